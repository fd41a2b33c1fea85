"""Audit HTTP surface: tree heads, proofs, entries and regulator exports (API), the consumer's access log, and the
auditor console (server-rendered).

Auditors and admins see the whole log; a consumer sees only entries about themselves (their pseudonym).
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlmodel import Session

from vault_server.audit import check, service, store
from vault_server.audit.models import AuditEntry
from vault_server.audit.tasks import maybe_make_sth
from vault_server.context import VaultContext
from vault_server.errors import Conflict, Forbidden, NotFound, ValidationFailed
from vault_server.web.deps import Ctx, CurrentPrincipal, Principal
from vault_server.web.pages import form_principal, page_principal, render_page, vendor_names

router = APIRouter(tags=["audit"])

AUDITOR_ROLES = ("auditor", "admin")
#: entry indexes and tree sizes are BIGINT: larger numbers are a 422, not a database overflow
MAX_INDEX = 2**63 - 1
ACCESS_KINDS = ("vendor.read", "webhook.delivered", "identity.read", "answer.read", "intentcast.read")
JSONL = "application/jsonl"
MAX_EXPORT = 10_000


def _is_auditor(principal: Principal) -> bool:
    return principal.account.role in AUDITOR_ROLES


def _require_auditor(principal: Principal) -> None:
    if not _is_auditor(principal):
        raise Forbidden("the full audit log is for auditor and admin accounts")


def _latest_sth_or_404(session: Session) -> dict[str, Any]:
    row = store.latest_sth(session)
    if row is None:
        raise NotFound("no signed tree head yet; an auditor or admin can make one with POST /v1/audit/sth")
    return service.sth_json(row)


# ---- tree heads and proofs -----------------------------------------------------------------------------
@router.get("/v1/audit/sth", summary="The latest signed tree head (or the one for ?tree_size=)")
def api_get_sth(
    principal: CurrentPrincipal, ctx: Ctx, tree_size: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None
) -> dict[str, Any]:
    with ctx.db.session() as s:
        if tree_size is None:
            return _latest_sth_or_404(s)
        row = store.sth_for_size(s, tree_size)
        if row is None:
            raise NotFound(f"no signed tree head for tree_size {tree_size}")
        return service.sth_json(row)


@router.post("/v1/audit/sth", status_code=201, summary="Sign a tree head now (auditors and admins)")
def api_make_sth(principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    _require_auditor(principal)
    row = maybe_make_sth(ctx, force=True)
    assert row is not None
    return service.sth_json(row)


@router.get("/v1/audit/proof/inclusion", summary="RFC 9162 inclusion proof of entry ?index= in ?tree_size=")
def api_inclusion(
    principal: CurrentPrincipal,
    ctx: Ctx,
    index: Annotated[int, Query(ge=0, le=MAX_INDEX)],
    tree_size: Annotated[int | None, Query(ge=1, le=MAX_INDEX)] = None,
) -> dict[str, Any]:
    with ctx.db.session() as s:
        if not _is_auditor(principal):
            row = store.get_entry(s, index)
            if row is None or row.subject != service.subject_pseudonym(ctx.ring, principal.account.id):
                raise NotFound(f"no entry {index} about you")
        return service.inclusion(session=s, index=index, tree_size=tree_size)


@router.get("/v1/audit/proof/consistency", summary="RFC 9162 consistency proof from ?first= to ?second=")
def api_consistency(
    principal: CurrentPrincipal,
    ctx: Ctx,
    first: Annotated[int, Query(ge=0, le=MAX_INDEX)],
    second: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
) -> dict[str, Any]:
    with ctx.db.session() as s:
        return service.consistency(session=s, first=first, second=second)


# ---- entries and exports -------------------------------------------------------------------------------
@router.get(
    "/v1/audit/entries",
    summary="Log entries [start, end) in the offline verifier's export.jsonl format (or JSON with ?format=json)",
    responses={200: {"content": {JSONL: {}}}},
)
def api_entries(
    principal: CurrentPrincipal,
    ctx: Ctx,
    start: Annotated[int, Query(ge=0, le=MAX_INDEX)] = 0,
    end: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
    format: Annotated[str, Query(pattern="^(jsonl|json)$")] = "jsonl",
) -> Response:
    with ctx.db.session() as s:
        size, _ = store.read_head(s)
        page = service.check_range(start, end, size)
        lines = list(service.export_lines(s, start=page.start, end=page.end))
        if not _is_auditor(principal):
            mine = service.subject_pseudonym(ctx.ring, principal.account.id)
            lines = [line for line in lines if json.loads(line)["entry"].get("subject") == mine]
    headers = {"X-Audit-Tree-Size": str(size), "Cache-Control": "no-store"}
    if page.end < size:
        headers["Link"] = f'</v1/audit/entries?start={page.end}&format={format}>; rel="next"'
    if format == "json":
        return JSONResponse(
            {"start": page.start, "end": page.end, "tree_size": size, "entries": [json.loads(x) for x in lines]},
            headers=headers,
        )
    return Response("".join(lines), media_type=JSONL, headers=headers)


def build_export(session: Session, ctx: VaultContext, start: int, end: int | None) -> tuple[bytes, dict[str, Any]]:
    """A regulator slice as a zip: entries, the latest signed head, the JWKS, inclusion proofs of every entry in
    the slice and consistency proofs from every earlier head. Returns (zip bytes, summary)."""
    latest = store.latest_sth(session)
    if latest is None:
        raise Conflict("no signed tree head yet: sign one first (POST /v1/audit/sth or `intent-vault audit sth`)")
    sth = service.sth_json(latest)
    size = latest.tree_size
    stop = size if end is None else min(end, size)
    if start < 0 or stop < start:
        raise ValidationFailed(f"empty or invalid slice [{start}, {end}) for signed tree_size {size}")
    if stop - start > MAX_EXPORT:
        raise ValidationFailed(f"at most {MAX_EXPORT} entries per export")
    lines = list(service.export_lines(session, start=start, end=stop))
    proofs = [
        json.dumps(service.inclusion(session=session, index=i, tree_size=size)) + "\n" for i in range(start, stop)
    ]
    olds = [service.sth_json(r) for r in store.all_sths(session) if r.tree_size < size][-100:]
    consistency = [service.consistency(session=session, first=o["tree_size"], second=size) for o in olds]
    summary = {
        "format": "intent-vault-audit-slice/1",
        "start": start,
        "end": stop,
        "tree_size": size,
        "entries": len(lines),
        "exported_at": service.now_ms(),
    }
    readme = (
        f"Intent Vault audit log slice: entries {start}..{stop - 1} of a log whose signed tree head covers {size}.\n\n"
        "entries.jsonl         entries in the offline verifier's export format\n"
        "sth.json              the signed tree head every proof below is against\n"
        "jwks.json             the vault's public keys (verify sth.json's signature)\n"
        "inclusion.jsonl       one RFC 9162 inclusion proof per entry, against sth.json\n"
        "old-sths/*.json       earlier signed heads; consistency/*.json proves each is a prefix of sth.json\n\n"
        "When the slice starts at 0 and ends at tree_size, the whole log verifies offline with\n"
        "  intent-vault audit verify --entries entries.jsonl --sth sth.json --jwks jwks.json\n"
        "(or python verifier.py with the same arguments). Any slice verifies entry by entry with\n"
        "  intent-vault audit verify-slice slice.zip\n"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("README.txt", readme)
        z.writestr("summary.json", json.dumps(summary, indent=2) + "\n")
        z.writestr("entries.jsonl", "".join(lines))
        z.writestr("sth.json", json.dumps(sth, indent=2) + "\n")
        z.writestr("jwks.json", json.dumps(service.jwks(ctx), indent=2) + "\n")
        z.writestr("inclusion.jsonl", "".join(proofs))
        for old, proof in zip(olds, consistency, strict=True):
            z.writestr(f"old-sths/{old['tree_size']}-{old['timestamp']}.json", json.dumps(old, indent=2) + "\n")
            z.writestr(f"consistency/{old['tree_size']}-{size}.json", json.dumps(proof) + "\n")
    return buf.getvalue(), summary


@router.get(
    "/v1/audit/export",
    summary="A regulator slice [start, end) with proofs, the signed head and keys, as a zip",
    responses={200: {"content": {"application/zip": {}}}},
)
def api_export(
    principal: CurrentPrincipal,
    ctx: Ctx,
    start: Annotated[int, Query(ge=0, le=MAX_INDEX)] = 0,
    end: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
) -> Response:
    _require_auditor(principal)
    with ctx.db.session() as s:
        body, summary = build_export(s, ctx, start, end)
    name = f"intent-vault-audit-{summary['start']}-{summary['end']}.zip"
    return Response(
        body,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


# ---- the consumer's access log -------------------------------------------------------------------------
def access_log(
    session: Session, ctx: VaultContext, consumer_id: str, *, before: int | None = None, limit: int = 50
) -> dict[str, Any]:
    """Vendor reads about the consumer, newest first, with decrypted private details and inclusion proofs."""
    latest = store.latest_sth(session)
    signed = latest.tree_size if latest is not None else 0
    rows = store.filter_entries(
        session,
        kinds=ACCESS_KINDS,
        subject=service.subject_pseudonym(ctx.ring, consumer_id),
        before_idx=before,
        limit=limit,
    )
    items = [_access_item(session, ctx, consumer_id, row, signed) for row in rows]
    from vault_server.reports.service import reports_counted

    return {
        "sth": service.sth_json(latest) if latest is not None else None,
        "items": items,
        # demand reports never name anyone, so they are not per-vendor reads: only how many counted this person
        "anonymous_reports": reports_counted(session=session, account_id=consumer_id),
        "next_before": rows[-1].idx if len(rows) == limit else None,
    }


def _access_item(session: Session, ctx: VaultContext, consumer_id: str, row: AuditEntry, signed: int) -> dict[str, Any]:
    obj = service.entry_object(row)
    private = service.read_private(session=session, ctx=ctx, row=row, consumer_id=consumer_id) or {}
    clear = private.pop("details", None)  # the consumer's key opens the names the public log shows as tokens
    return {
        "index": row.idx,
        "at": datetime.fromtimestamp(row.at_ms / 1000, UTC).isoformat(),
        "kind": row.kind,
        "vendor_id": row.vendor_id,
        "details": clear if isinstance(clear, dict) else obj.get("details", {}),
        "private": private or None,
        "entry": obj,
        "inclusion_proof": service.inclusion(session=session, index=int(row.idx), tree_size=signed)
        if row.idx < signed
        else None,
    }


@router.get("/v1/me/access-log", summary="Who accessed my data: each vendor read, what and when, with its proof")
def api_access_log(
    principal: CurrentPrincipal,
    ctx: Ctx,
    before: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    principal.require("account:read")
    with ctx.db.session() as s:
        return access_log(s, ctx, principal.account.id, before=before, limit=limit)


@router.get("/access-log", response_class=HTMLResponse, include_in_schema=False)
def access_log_page(request: Request, ctx: Ctx) -> Response:
    principal = page_principal(request, ctx, "consumer")
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        log = access_log(s, ctx, principal.account.id, limit=200)
    names = vendor_names(ctx, [item.get("vendor_id") for item in log["items"]])
    return render_page(request, ctx, principal, "access_log.html", log=log, vendor_names=names)


# ---- auditor console -----------------------------------------------------------------------------------
def _day_ms(value: str, field: str) -> int | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"{field} must be a date like 2026-11-25") from None
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


@router.get("/auditor", response_class=HTMLResponse, include_in_schema=False)
def auditor_page(
    request: Request,
    ctx: Ctx,
    kind: str = "",
    vendor: str = "",
    since: str = "",
    until: str = "",
    before: Annotated[int | None, Query(ge=0, le=MAX_INDEX)] = None,
) -> Response:
    principal = page_principal(request, ctx, *AUDITOR_ROLES)
    if isinstance(principal, Response):
        return principal
    until_ms = _day_ms(until, "until")
    with ctx.db.session() as s:
        rows = store.filter_entries(
            s,
            kinds=[k.strip() for k in kind.split(",") if k.strip()],
            vendor_id=vendor.strip() or None,
            since_ms=_day_ms(since, "since"),
            until_ms=until_ms + 86_400_000 if until_ms is not None else None,
            before_idx=before,
            limit=100,
        )
        size, root = store.read_head(s)
        latest = store.latest_sth(s)
    entries = [
        {
            "idx": r.idx,
            "at": datetime.fromtimestamp(r.at_ms / 1000, UTC),
            "kind": r.kind,
            "actor": r.actor,
            "subject": (r.subject or "")[:12],
            "vendor_id": r.vendor_id or "",
            "details": service.entry_object(r).get("details", {}),
        }
        for r in rows
    ]
    from vault_server.vendors import service as vendors

    with ctx.db.session() as s:
        apps = sorted(((a.id, a.name) for a in vendors.list_apps(session=s)), key=lambda t: t[1].lower())
    return render_page(
        request,
        ctx,
        principal,
        "auditor.html",
        entries=entries,
        vendor_names=dict(apps),
        vendor_options=apps,
        kind_options=KIND_SUGGESTIONS,
        filters={"kind": kind, "vendor": vendor, "since": since, "until": until},
        next_before=rows[-1].idx if len(rows) == 100 else None,
        tree_size=size,
        root=root.hex(),
        sth=service.sth_json(latest) if latest is not None else None,
    )


@router.get("/auditor/export", include_in_schema=False)
def auditor_export(request: Request, ctx: Ctx, start: str = "0", end: str = "") -> Response:
    """The console's download form (empty fields allowed): the same zip as ``GET /v1/audit/export``."""
    principal = page_principal(request, ctx, *AUDITOR_ROLES)
    if isinstance(principal, Response):
        return principal
    try:
        first = int(start or 0)
        stop = int(end) if end.strip() else None
    except ValueError:
        raise ValidationFailed("start and end must be entry indexes") from None
    with ctx.db.session() as s:
        body, summary = build_export(s, ctx, first, stop)
    name = f"intent-vault-audit-{summary['start']}-{summary['end']}.zip"
    return Response(
        body,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


# What the compliance check looks at, in words, with the finding kinds that each part reports.
CHECKS = (
    (
        "Every read had a live grant",
        "Each vendor read, webhook delivery, identity, answer and intentcast read is replayed against the grants "
        "in force at that moment: it must fall in a granted category at or past the granted stage.",
        (check.UNCOVERED,),
    ),
    (
        "No read after a revocation",
        "No token was used to read or refresh after it or its grant was revoked.",
        (check.AFTER_REVOKE,),
    ),
    (
        "Within the consumer's terms",
        "No grant or read goes beyond the IEEE 7012 agreement it was made under (fields, scopes, retention).",
        (check.BEYOND_AGREEMENT,),
    ),
    (
        "Signed tree heads are genuine and on time",
        "Every signed head verifies against the published keys, matches the entries it covers, never shrinks, and "
        "no entry waited too long to be signed.",
        (check.STH_SIGNATURE, check.STH_MISMATCH, check.STH_ROLLBACK, check.STH_GAP),
    ),
    (
        "The log was not rewritten",
        "Every stored entry still hashes to the tree the heads signed; heads kept outside the database (the vault's "
        "witness) are still extended by the log.",
        (check.INTEGRITY, check.STH_FORK),
    ),
)
KIND_SUGGESTIONS = (*ACCESS_KINDS, "grant.", "consumer.", "admin.", "vendor.")


@router.post("/auditor/check", response_class=HTMLResponse, include_in_schema=False)
def auditor_check(request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "") -> Response:
    principal = form_principal(request, ctx, csrf_token, *AUDITOR_ROLES)
    if isinstance(principal, Response):
        return principal
    report = check.run_check(ctx)
    results = [
        {
            "title": title,
            "what": what,
            "findings": [f for f in report.findings if f.kind in kinds],
        }
        for title, what, kinds in CHECKS
    ]
    listed = {k for _, _, kinds in CHECKS for k in kinds}
    other = [f for f in report.findings if f.kind not in listed]
    if other:
        results.append({"title": "Other findings", "what": "", "findings": other})
    return render_page(
        request, ctx, principal, "auditor_check.html", report=report, lines=report.lines(), results=results
    )


@router.get("/auditor/heads", response_class=HTMLResponse, include_in_schema=False)
def auditor_heads(request: Request, ctx: Ctx) -> Response:
    """The signed tree head history, newest first, with human dates."""
    principal = page_principal(request, ctx, *AUDITOR_ROLES)
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        heads = [service.sth_json(row) for row in store.recent_sths(s, limit=100)]
    for previous, head in zip(heads[1:], heads, strict=False):
        head["added"] = head["tree_size"] - previous["tree_size"]
    return render_page(request, ctx, principal, "auditor_heads.html", heads=heads)


VOLUME_DAYS = 30
VOLUME_LINES = 6


@router.get("/auditor/volume", response_class=HTMLResponse, include_in_schema=False)
def auditor_volume(request: Request, ctx: Ctx) -> Response:
    """Entries per day by kind and by vendor over the last 30 days, as charts (the busiest six of each)."""
    from vault_server.web.charts import line_chart

    principal = page_principal(request, ctx, *AUDITOR_ROLES)
    if isinstance(principal, Response):
        return principal
    today = datetime.now(UTC).date()
    first = today.toordinal() - VOLUME_DAYS + 1
    since_ms = int(datetime(*date.fromordinal(first).timetuple()[:3], tzinfo=UTC).timestamp() * 1000)
    epoch = date(1970, 1, 1).toordinal()
    charts: dict[str, Any] = {}
    totals: dict[str, list[tuple[str, int]]] = {}
    with ctx.db.session() as s:
        rows = {by: store.volume_by_day(s, by=by, since_ms=since_ms) for by in ("kind", "vendor")}
    names = vendor_names(ctx, [k for _, k, _ in rows["vendor"]])
    for by, counts in rows.items():
        per_key: dict[str, dict[int, int]] = {}
        for day, key, n in counts:
            per_key.setdefault(key, {})[day] = n
        ranked = sorted(per_key.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        totals[by] = [(names.get(k, k) if by == "vendor" else k, sum(days.values())) for k, days in ranked]
        series = {
            (names.get(k, k) if by == "vendor" else k): [
                (date.fromordinal(epoch + d), float(days.get(d, 0)))
                for d in range(first - epoch, today.toordinal() - epoch + 1)
            ]
            for k, days in ranked[:VOLUME_LINES]
        }
        charts[by] = line_chart(series, start=date.fromordinal(first), end=today) if series else None
    return render_page(request, ctx, principal, "auditor_volume.html", charts=charts, totals=totals, days=VOLUME_DAYS)


@router.post("/auditor/sth", include_in_schema=False)
def auditor_sth(request: Request, ctx: Ctx, csrf_token: Annotated[str, Form()] = "") -> Response:
    principal = form_principal(request, ctx, csrf_token, *AUDITOR_ROLES)
    if isinstance(principal, Response):
        return principal
    maybe_make_sth(ctx, force=True)
    return RedirectResponse("/auditor", status_code=303)


@router.get("/auditor/entries/{index}", response_class=HTMLResponse, include_in_schema=False)
def auditor_entry(index: int, request: Request, ctx: Ctx) -> Response:
    """ "Check this entry": its inclusion proof against the latest signed head, checked with the independent
    verifier (the same code as ``intent-vault audit verify``), and the head's signature — the result in words."""
    from vault_server.audit.verifier import (
        check_tree_head_signature,
        entry_leaf_hash,
        parse_jwks,
        parse_tree_head,
        verify_inclusion,
    )

    principal = page_principal(request, ctx, *AUDITOR_ROLES)
    if isinstance(principal, Response):
        return principal
    with ctx.db.session() as s:
        row = store.get_entry(s, index)
        if row is None:
            raise NotFound(f"the log has no entry #{index}")
        entry = service.entry_object(row)
        latest = store.latest_sth(s)
        sth = service.sth_json(latest) if latest is not None else None
        proof = (
            service.inclusion(session=s, index=index, tree_size=sth["tree_size"])
            if sth is not None and index < sth["tree_size"]
            else None
        )
    result: dict[str, Any] = {"covered": proof is not None}
    if sth is not None and proof is not None:
        head = parse_tree_head(sth)
        result["signature_error"] = check_tree_head_signature(head, parse_jwks(service.jwks(ctx)))
        result["included"] = verify_inclusion(
            index,
            sth["tree_size"],
            entry_leaf_hash(entry),
            [bytes.fromhex(h) for h in proof["inclusion_path"]],
            bytes.fromhex(sth["root_hash"]),
        )
    return render_page(
        request,
        ctx,
        principal,
        "auditor_entry.html",
        index=index,
        entry=entry,
        at=datetime.fromtimestamp(row.at_ms / 1000, UTC),
        sth=sth,
        proof=proof,
        result=result,
    )
