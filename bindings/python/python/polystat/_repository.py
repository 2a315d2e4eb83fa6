"""Synchronous repositories: create, read, update, delete, list and count
records of one entity.

Every method releases the GIL while the Rust core works, so other Python
threads keep running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from . import _native
from ._page import Page

Record = dict[str, Any]

# Page size of the iterators and list_all: large enough that round trips
# are a small share of the time, small enough to bound memory per page.
DEFAULT_PAGE_SIZE = 1000


def run_sync(operation: Any, convert: Callable[[Any], Any] | None = None) -> Any:
    """Run a native operation with the GIL released and return its result."""
    result = operation.wait()
    return convert(result) if convert is not None else result


def to_page(result: tuple[list[Record], str | None]) -> Page:
    items, next_cursor = result
    return Page(items, next_cursor)


class Repository:
    """Records of one entity, such as ``store.catalogs``.

    Records are dicts: ``id`` (str), ``version`` (int), the creation and
    update instants (``created_at``/``updated_at`` for relational entities,
    ``createdAt``/``updatedAt`` for documents, as aware datetimes), then the
    entity's fields. Writes take the same dicts and ignore the id, version
    and timestamp keys. A record read from the store can therefore be
    changed and passed back to :meth:`update`.
    """

    _run = staticmethod(run_sync)
    # Returns a value already at hand the way _run returns results.
    _done = staticmethod(lambda value: value)

    def __init__(self, store: Any, entity: str) -> None:
        self._native = _native.NativeRepository(store, entity)
        self.entity = entity

    def __repr__(self) -> str:
        return f"<polystat repository {self.entity}>"

    def create(self, data: Mapping[str, Any]) -> Any:
        """Validate and store a new record with version 1; return it."""
        return self._run(self._native.create(data))

    def bulk_insert(self, items: Iterable[Mapping[str, Any]]) -> Any:
        """Validate every item, then store all of them in one transaction
        (all or none); return the stored records in input order."""
        return self._run(self._native.bulk_insert(list(items)))

    def get(self, id: str) -> Any:
        """Return the record with ``id``; raise NotFoundError if there is none.
        Reads go through the cache."""
        hit = self._native.cached(id)
        if hit is not None:
            return self._done(hit)
        return self._run(self._native.get(id))

    def find(self, id: str) -> Any:
        """Return the record with ``id``, or ``None`` if there is none."""
        hit = self._native.cached(id)
        if hit is not None:
            return self._done(hit)
        return self._run(self._native.find(id))

    def update(self, id: str, expected_version: int, data: Mapping[str, Any]) -> Any:
        """Replace the record's fields if its stored version is still
        ``expected_version``; raise ConflictError otherwise. Return the
        record with its new version."""
        return self._run(self._native.update(id, expected_version, data))

    def delete(self, id: str, expected_version: int | None = None) -> Any:
        """Delete the record. With ``expected_version``, delete it only if no
        other write changed it since; raise ConflictError otherwise."""
        return self._run(self._native.delete(id, expected_version))

    def list(
        self,
        filter: Mapping[str, Any] | None = None,
        sort: Mapping[str, int] | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Any:
        """Return one :class:`Page` of records matching ``filter`` (the
        MongoDB query subset of the core), in ``sort`` order (``{"name": 1,
        "createdAt": -1}``), ties broken by id. ``limit`` defaults to 100
        and may be up to 10,000; pass the page's ``next_cursor`` as
        ``cursor`` for the next page."""
        return self._run(self._native.list(filter, sort, limit, cursor), to_page)

    def count(self, filter: Mapping[str, Any] | None = None) -> Any:
        """Count records matching ``filter``."""
        return self._run(self._native.count(filter))

    def find_one(self, filter: Mapping[str, Any] | None = None) -> Any:
        """Return the first record matching ``filter`` in id order, or None."""
        return self._run(self._native.find_one(filter))

    def pages(
        self,
        filter: Mapping[str, Any] | None = None,
        sort: Mapping[str, int] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[Page]:
        """Iterate over every page of a list, following the cursors, so
        that only one page is in memory at a time."""
        cursor = None
        while True:
            page = run_sync(self._native.list(filter, sort, page_size, cursor), to_page)
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def iter(
        self,
        filter: Mapping[str, Any] | None = None,
        sort: Mapping[str, int] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> Iterator[Record]:
        """Iterate over every matching record, one page at a time."""
        for page in self.pages(filter, sort, page_size):
            yield from page.items

    def list_all(
        self,
        filter: Mapping[str, Any] | None = None,
        sort: Mapping[str, int] | None = None,
    ) -> Any:
        """Return every matching record as one list. Without ``sort`` the
        records come in id order through one server cursor, which is the
        fastest way to read a whole collection; use :meth:`iter` or
        :meth:`pages` to hold one page at a time instead."""
        return self._run(self._native.list_all(filter, sort))


class Users(Repository):
    """Users, with password registration and verification."""

    def register(self, data: Mapping[str, Any]) -> Any:
        """Create a user from ``username``, ``email``, ``password`` (at least
        8 characters, stored as an argon2id hash) and optional ``role``
        (``"ADMIN"``, ``"DEVELOPER"`` or ``"USER"``)."""
        return self._run(self._native.register(data))

    def verify_password(self, username: str, password: str) -> Any:
        """Return the user when the password matches; raise
        UnauthorizedError otherwise, the same way for an unknown user."""
        return self._run(self._native.verify_password(username, password))

    def enable_two_factor(self, id: str, expected_version: int, totp_secret: str) -> Any:
        """Turn on two-factor sign-in, storing the TOTP secret encrypted."""
        return self._run(self._native.enable_two_factor(id, expected_version, totp_secret))


class Secrets(Repository):
    """Secrets, encrypted under the store's master key."""

    def create_secret(self, data: Mapping[str, Any]) -> Any:
        """Store a secret from ``name``, ``value`` (the plaintext) and
        optional ``type``, ``environment`` and ``owner``. The returned record
        holds only the encrypted value."""
        return self._run(self._native.create_secret(data))

    def reveal(self, id: str) -> Any:
        """Decrypt and return the plaintext value of a secret."""
        return self._run(self._native.reveal(id))

    def rotate(self, id: str, expected_version: int, value: str) -> Any:
        """Replace a secret's value and record the rotation time."""
        return self._run(self._native.rotate(id, expected_version, value))


class ServiceAccounts(Repository):
    """Service accounts, which authenticate with API keys."""

    def create_account(self, data: Mapping[str, Any]) -> Any:
        """Create an account from ``name`` and optional ``role`` and
        ``expires_at``; return ``(record, api_key)``. The key is shown only
        here: the store keeps its hash."""
        return self._run(self._native.create_account(data))

    def authenticate(self, api_key: str) -> Any:
        """Return the account of an enabled, unexpired API key; raise
        UnauthorizedError otherwise."""
        return self._run(self._native.authenticate(api_key))


class Datasources(Repository):
    """Datasources, with their usage by linkers and mashups."""

    def usage(self, id: str) -> Any:
        """Return ``{"linkers": [ids], "mashups": [ids]}`` that read the
        datasource; a datasource in use cannot be deleted."""
        return self._run(self._native.usage(id))


REPOSITORY_CLASSES: dict[str, type[Repository]] = {
    "users": Users,
    "secrets": Secrets,
    "service_accounts": ServiceAccounts,
    "datasources": Datasources,
}

ENTITIES = (
    "users",
    "catalogs",
    "controls",
    "scopes",
    "secrets",
    "service_accounts",
    "computations",
    "guarantee_points",
    "mashups",
    "datasources",
    "linkers",
    "folders",
)
