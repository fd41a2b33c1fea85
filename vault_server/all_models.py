"""Imports every room's tables so SQLModel.metadata is complete (migrations, tests)."""

from sqlmodel import SQLModel

from vault_server.accounts import models as _accounts  # noqa: F401
from vault_server.audit import models as _audit  # noqa: F401
from vault_server.crypto import models as _crypto  # noqa: F401
from vault_server.feed import models as _feed  # noqa: F401
from vault_server.grants import models as _grants  # noqa: F401
from vault_server.intents import models as _intents  # noqa: F401
from vault_server.oauth import models as _oauth  # noqa: F401
from vault_server.reports import models as _reports  # noqa: F401
from vault_server.terms import models as _terms  # noqa: F401
from vault_server.vendors import models as _vendors  # noqa: F401

metadata = SQLModel.metadata
