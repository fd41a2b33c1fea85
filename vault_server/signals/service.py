"""The signals other rooms read (consent previews, the vendor feed): evaluated from the stored state.

The state itself is kept by the intents room next to the gestures it is derived from; this module is the
stable entry point for readers.
"""

from vault_server.intents.service import signals_for

__all__ = ["signals_for"]
