"""The signals other rooms read (consent previews, the dashboard, the vendor feed): evaluated from the stored state.

The state lives in the signals room (:mod:`vault_server.signals.state`); this module is the stable entry point
for readers.
"""

from vault_server.signals.state import signals_for, signals_for_many

__all__ = ["signals_for", "signals_for_many"]
