"""Policies: load and validate ``policies/*.yaml`` (taxonomy, gestures, stages, sensitive, retention, scopes)."""

from vault_server.policy.loader import (
    Policy,
    PolicyError,
    PolicyProblem,
    check_policy,
    default_policy_dir,
    load_policy,
    policy_hash,
)
from vault_server.policy.models import REQUIRED_GESTURES, SIGNAL_FIELDS, STAGES

__all__ = [
    "REQUIRED_GESTURES",
    "SIGNAL_FIELDS",
    "STAGES",
    "Policy",
    "PolicyError",
    "PolicyProblem",
    "check_policy",
    "default_policy_dir",
    "load_policy",
    "policy_hash",
]
