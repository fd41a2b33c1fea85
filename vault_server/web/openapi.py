"""The OpenAPI document describes every response, errors included.

FastAPI documents the success response and a 422 in its own shape; the vault answers every error as RFC 9457
problem details (``application/problem+json``, ``web/problems.py``) and the OAuth endpoints as RFC 6749 §5.2 JSON.
``install(app)`` adds, once, when the document is first built: a shared ``Problem`` schema (and ``ValidationProblem``
with the ``errors`` list), an ``OAuthError`` schema, and to each operation the error responses it really gives:

* 400 (malformed JSON, a number out of range) and 422 (validation) where there is a body or a parameter;
* 413 and 415 where there is a body (the size limit answers before parsing; a body that is not JSON);
* 401, 403 and 429 (per-credential rate limit) where a caller must authenticate;
* 404 where the path names something (an id) and where a route says so;
* 409 where the operation can conflict with the current state (``CONFLICTS``);
* 503 where the database is needed (it is unreachable for a moment: retry after ``Retry-After`` seconds).

Schemathesis checks the document against the app as every role (``tests/api/test_openapi_conformance.py``): a
response the document does not describe fails the suite.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

PROBLEM = "application/problem+json"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details. `type` is stable: clients may switch on it.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri", "examples": ["https://intent-vault.dev/problems/not-found"]},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "the request path"},
        "retry_after": {"type": "integer", "description": "seconds to wait (429, 503); also the Retry-After header"},
    },
    "additionalProperties": True,
}

VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "ValidationProblem",
    "description": "Problem details of a request that did not validate: where and why, never the submitted value.",
    "allOf": [{"$ref": "#/components/schemas/Problem"}],
    "type": "object",
    "properties": {
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        }
    },
}

OAUTH_ERROR_SCHEMA: dict[str, Any] = {
    "title": "OAuthError",
    "description": "RFC 6749 §5.2 error response of the OAuth endpoints.",
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    "additionalProperties": True,
}

DESCRIPTIONS = {
    400: "Malformed JSON or a value out of range",
    401: "Authentication required, or the credential is invalid, expired or revoked",
    403: "Authenticated, but not allowed (role, scope, CSRF token, ownership)",
    404: "No such resource (or not yours)",
    409: "Conflicts with the current state",
    413: "Request body too large (answered before parsing)",
    415: "The body is not of a media type this operation reads",
    422: "The request did not validate",
    429: "Too many requests: retry after Retry-After seconds",
    503: "Temporarily unavailable (the database is unreachable): retry after Retry-After seconds",
}

# Operations a caller reaches without credentials (everything else answers 401 to an anonymous caller).
PUBLIC = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/.well-known/oauth-authorization-server"),
    ("get", "/v1/schemas/gesture.json"),
    ("get", "/v1/categories"),
    ("get", "/v1/terms/roster"),
    ("post", "/v1/accounts"),
    ("post", "/v1/sessions"),
}
# Answered from memory or a precomputed document: no database, so no 503.
NO_DATABASE = {
    ("get", "/healthz"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/.well-known/oauth-authorization-server"),
    ("get", "/v1/schemas/gesture.json"),
    ("get", "/v1/categories"),
}
# Operations that can conflict with the current state (409), by (method, path).
CONFLICTS = {
    ("post", "/v1/accounts"),  # the e-mail is taken
    ("post", "/v1/audit/sth"),  # the log forked from the head the vault signed before
    ("post", "/v1/intentcasts/{cast_id}/offers"),
    ("post", "/v1/vendor/intentcasts/{cast_id}/offers"),
    ("post", "/v1/offers/{offer_id}/decision"),
    ("post", "/v1/questions/{delivery_id}/answer"),
    ("post", "/v1/questions/{delivery_id}/ignore"),
    ("post", "/v1/vendor/questions"),
    ("post", "/v1/terms/records/{record_id}/countersign"),
    ("post", "/v1/vendor/sandbox/consumers/{consumer_id}/consent"),
}
# 404 without a path parameter: the operation acts on something that may not exist (yet).
NOT_FOUND = {
    ("get", "/v1/audit/sth"),  # no signed head yet, or none of that size
    ("get", "/v1/audit/proof/inclusion"),
    ("get", "/v1/audit/proof/consistency"),
    ("put", "/v1/me/terms"),  # an agreement id that is not on the roster
}
# Login answers 401 (wrong e-mail or password) and 429 (throttled) although it is public.
RATE_LIMITED_PUBLIC = {("post", "/v1/sessions")}
# Success bodies that are not JSON: (method, path) -> (media type, schema).
SUCCESS_MEDIA: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
    ("get", "/v1/schemas/gesture.json"): ("application/schema+json", {"type": "object"}),
    ("get", "/v1/gestures/export.csv"): ("text/csv", {"type": "string"}),
}


def _problem(status: int, schema: str = "Problem") -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": DESCRIPTIONS[status],
        "content": {PROBLEM: {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    if status in (429, 503):
        response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
    return response


def _oauth(status: int) -> dict[str, Any]:
    return {
        "description": DESCRIPTIONS[status] + " (RFC 6749 §5.2 error)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}},
    }


def error_statuses(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses one operation can answer (see the module docstring for the rules)."""
    key = (method, path)
    params = operation.get("parameters", [])
    has_body = "requestBody" in operation
    statuses: set[int] = set()
    if has_body or params:
        statuses |= {400, 422}
    if has_body:
        statuses |= {413, 415}
    if key not in PUBLIC:
        statuses |= {401, 403, 429}
    if key in RATE_LIMITED_PUBLIC:
        statuses |= {401, 429}
    if any(p.get("in") == "path" for p in params) or key in NOT_FOUND:
        statuses.add(404)
    if key in CONFLICTS:
        statuses.add(409)
    if key not in NO_DATABASE:
        statuses.add(503)
    return statuses


def describe_errors(schema: dict[str, Any]) -> None:
    """Add the shared error schemas and every operation's error responses to an OpenAPI document, in place."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    components["ValidationProblem"] = VALIDATION_PROBLEM_SCHEMA
    components["OAuthError"] = OAUTH_ERROR_SCHEMA
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "put", "post", "patch", "delete", "head", "options"}:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            if (method, path) in SUCCESS_MEDIA:
                media, body = SUCCESS_MEDIA[(method, path)]
                responses["200"]["content"] = {media: {"schema": body}}
            if path.startswith("/oauth/"):
                _describe_oauth(path, operation, responses)
                continue
            for status in sorted(error_statuses(method, path, operation)):
                kind = "ValidationProblem" if status in (400, 422) else "Problem"
                responses[str(status)] = _problem(status, kind)


def _describe_oauth(path: str, operation: dict[str, Any], responses: dict[str, Any]) -> None:
    """The OAuth endpoints answer RFC 6749 JSON errors: 400 (invalid_request/grant...), 401 (invalid_client) and
    429 (slow_down after repeated failures); the body size limit and an unreachable database still answer as
    problem details."""
    for status in (400, 401, 429):
        responses[str(status)] = _oauth(status)
    responses["413"] = _problem(413)
    responses["503"] = _problem(503)
    if path == "/oauth/register":
        responses["403"] = _oauth(403)


def install(app: FastAPI, customise: Callable[[dict[str, Any]], None] = describe_errors) -> None:
    """Build the app's OpenAPI document with ``customise`` applied, once."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            customise(schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

