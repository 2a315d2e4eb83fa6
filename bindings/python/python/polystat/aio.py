"""The asyncio API of polystat, with the same names as the synchronous API.

Every method returns an awaitable that runs on the module's tokio runtime,
and the event loop keeps running while the database works::

    import polystat.aio

    async def main():
        store = await polystat.aio.Store.open_default()
        catalog = await store.catalogs.create({"name": "Baseline", "start_date": "2024-01-01T00:00:00Z"})
        async for record in store.catalogs.iter():
            print(record["name"])
        await store.close()

Arguments are checked when a method is called, so an invalid argument (an
id that is not a UUID, say) raises at the call rather than at the await.
Cancelling the awaiting task aborts the operation in Rust.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from . import _repository as sync_repository
from . import _state as sync_state
from . import _store as sync_store
from . import _transforms as sync_transforms
from ._page import Page
from ._repository import DEFAULT_PAGE_SIZE, Record, to_page
from ._state import Seconds, message_or_raise, seconds

__all__ = ["Datasources", "Repository", "Secrets", "ServiceAccounts", "State", "Store", "Subscription", "Users"]


async def run_async(operation: Any, convert: Callable[[Any], Any] | None = None) -> Any:
    """Await a native operation on the module's runtime."""
    result = await operation.awaitable()
    return convert(result) if convert is not None else result


async def completed(value: Any) -> Any:
    """Return ``value`` as the result of an awaitable."""
    return value


class Repository(sync_repository.Repository):
    """Records of one entity; every method is awaitable. See
    :class:`polystat.Repository` for what each one does."""

    _run = staticmethod(run_async)
    _done = staticmethod(completed)

    async def pages(  # type: ignore[override]
        self,
        filter: Mapping[str, Any] | None = None,
        sort: Mapping[str, int] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[Page]:
        """Iterate over every page of a list, following the cursors."""
        cursor = None
        while True:
            page = await run_async(self._native.list(filter, sort, page_size, cursor), to_page)
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def iter(  # type: ignore[override]
        self,
        filter: Mapping[str, Any] | None = None,
        sort: Mapping[str, int] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[Record]:
        """Iterate over every matching record, one page at a time."""
        async for page in self.pages(filter, sort, page_size):
            for record in page.items:
                yield record

    async def list_all(  # type: ignore[override]
        self,
        filter: Mapping[str, Any] | None = None,
        sort: Mapping[str, int] | None = None,
    ) -> list[Record]:
        """Return every matching record as one list; see the synchronous
        :meth:`polystat.Repository.list_all`."""
        records: list[Record] = await run_async(self._native.list_all(filter, sort))
        return records


class Users(Repository, sync_repository.Users):
    """Users, with awaitable password registration and verification."""


class Secrets(Repository, sync_repository.Secrets):
    """Secrets, with awaitable create_secret, reveal and rotate."""


class ServiceAccounts(Repository, sync_repository.ServiceAccounts):
    """Service accounts, with awaitable create_account and authenticate."""


class Datasources(Repository, sync_repository.Datasources):
    """Datasources, with an awaitable usage()."""


class Subscription(sync_state.Subscription):
    """Messages of one pub/sub channel, as an async iterator."""

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Any:
        status, value = await self._native.next(None).awaitable()
        if status == "message":
            return value
        raise StopAsyncIteration

    async def receive(self, timeout: Seconds | None = None) -> Any:  # type: ignore[override]
        """Return the next message. Raise polystat.TimeoutError when
        ``timeout`` passes first, and UnavailableError once the subscription
        has ended."""
        limit = None if timeout is None else seconds(timeout)
        status, value = await self._native.next(limit).awaitable()
        return message_or_raise(self.channel, status, value, limit)


class State(sync_state.State):
    """Tokens, sessions, rate limits, pub/sub and temporary values; every
    method is awaitable. See :class:`polystat.State`."""

    _run = staticmethod(run_async)

    def subscribe(self, channel: str) -> Any:
        """Subscribe to a channel; the result is an async iterator."""
        return run_async(self._native.subscribe(channel), Subscription)


class Transforms(sync_transforms.Transforms):
    """The transform registry; every method is awaitable. See
    :class:`polystat.Transforms`."""

    _run = staticmethod(run_async)


class Store(sync_store.Store):
    """An open store whose methods are awaitable. See
    :class:`polystat.Store`; open one with ``await Store.open(...)``."""

    _run = staticmethod(run_async)
    _repository_class = Repository
    _repository_classes = {
        "users": Users,
        "secrets": Secrets,
        "service_accounts": ServiceAccounts,
        "datasources": Datasources,
    }
    _state_class = State
    _transforms_class = Transforms

    def changes(self, entities: list[str] | None = None) -> Subscription:  # type: ignore[override]
        """Subscribe to change events; the result is an async iterator."""
        return Subscription(self._native.changes(entities))

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if not self._native.closed:
            await self.close()


