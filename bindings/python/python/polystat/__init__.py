"""polystat: an embedded persistence SDK for compliance-monitoring platforms.

Open a store with :meth:`Store.open` (or :meth:`Store.open_default`, which
reads the ``POLYSTAT_*`` environment variables and otherwise uses
``polystat.db`` in the working directory), then use its repositories::

    import polystat

    with polystat.Store.open_default() as store:
        catalog = store.catalogs.create({"name": "Baseline", "start_date": "2024-01-01T00:00:00Z"})
        for record in store.catalogs.list(limit=10):
            print(record["id"], record["name"])

Every call is synchronous and releases the GIL while the Rust core works;
:mod:`polystat.aio` has the same API for asyncio. Errors derive from
:class:`Error`, one subclass per kind.

``polystat.ReferenceError`` and ``polystat.TimeoutError`` share their names
with built-in exceptions but derive from :class:`Error` only; refer to them
through the module.
"""

from __future__ import annotations

from ._errors import (
    ConfigurationError,
    ConflictError,
    Error,
    NotFoundError,
    RateLimitedError,
    ReferenceError,
    TimeoutError,
    TransformError,
    UnauthorizedError,
    UnavailableError,
    ValidationError,
)
from ._page import Page
from ._repository import Datasources, Repository, Secrets, ServiceAccounts, Users
from ._state import State, Subscription
from ._store import Store
from ._transforms import Transforms

__all__ = [
    "ConfigurationError",
    "ConflictError",
    "Datasources",
    "Error",
    "NotFoundError",
    "Page",
    "RateLimitedError",
    "ReferenceError",
    "Repository",
    "Secrets",
    "ServiceAccounts",
    "State",
    "Store",
    "Subscription",
    "TimeoutError",
    "TransformError",
    "Transforms",
    "UnauthorizedError",
    "UnavailableError",
    "Users",
    "ValidationError",
]
