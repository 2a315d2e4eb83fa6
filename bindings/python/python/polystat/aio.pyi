"""Type stubs of the asyncio polystat API."""

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

from . import Page, PathLike, Record, Seconds

class Repository:
    """Records of one entity; every method is awaitable."""

    entity: str
    async def create(self, data: Mapping[str, Any]) -> Record:
        """Validate and store a new record with version 1."""
    async def bulk_insert(self, items: Iterable[Mapping[str, Any]]) -> list[Record]:
        """Store all items in one transaction, or none."""
    async def get(self, id: str) -> Record:
        """Return the record; raise NotFoundError if there is none."""
    async def find(self, id: str) -> Record | None:
        """Return the record, or None."""
    async def update(self, id: str, expected_version: int, data: Mapping[str, Any]) -> Record:
        """Replace the fields if the stored version is ``expected_version``."""
    async def delete(self, id: str, expected_version: int | None = None) -> None:
        """Delete the record, optionally only at ``expected_version``."""
    async def list(
        self,
        filter: Mapping[str, Any] | None = None,
        sort: Mapping[str, int] | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        """Return one page of matching records."""
    async def count(self, filter: Mapping[str, Any] | None = None) -> int:
        """Count matching records."""
    async def find_one(self, filter: Mapping[str, Any] | None = None) -> Record | None:
        """Return the first matching record in id order, or None."""
    def pages(
        self,
        filter: Mapping[str, Any] | None = None,
        sort: Mapping[str, int] | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[Page]:
        """Iterate over every page, following the cursors."""
    def iter(
        self,
        filter: Mapping[str, Any] | None = None,
        sort: Mapping[str, int] | None = None,
        page_size: int = 1000,
    ) -> AsyncIterator[Record]:
        """Iterate over every matching record, a page at a time."""
    async def list_all(
        self, filter: Mapping[str, Any] | None = None, sort: Mapping[str, int] | None = None
    ) -> list[Record]:
        """Return every matching record."""

class Users(Repository):
    """Users, with awaitable password operations."""

    async def register(self, data: Mapping[str, Any]) -> Record:
        """Create a user from username, email, password and optional role."""
    async def verify_password(self, username: str, password: str) -> Record:
        """Return the user when the password matches."""
    async def enable_two_factor(self, id: str, expected_version: int, totp_secret: str) -> Record:
        """Turn on two-factor sign-in."""

class Secrets(Repository):
    """Secrets, encrypted under the master key."""

    async def create_secret(self, data: Mapping[str, Any]) -> Record:
        """Store a secret."""
    async def reveal(self, id: str) -> str:
        """Decrypt and return the plaintext value."""
    async def rotate(self, id: str, expected_version: int, value: str) -> Record:
        """Replace the value and record the rotation time."""

class ServiceAccounts(Repository):
    """Service accounts with API keys."""

    async def create_account(self, data: Mapping[str, Any]) -> tuple[Record, str]:
        """Create an account; return the record and its API key."""
    async def authenticate(self, api_key: str) -> Record:
        """Return the account of an enabled, unexpired key."""

class Datasources(Repository):
    """Datasources and their usage."""

    async def usage(self, id: str) -> dict[str, list[str]]:
        """Return the linkers and mashups that read the datasource."""

class Subscription:
    """Messages of one pub/sub channel, as an async iterator."""

    @property
    def channel(self) -> str:
        """Channel name."""
    def __aiter__(self) -> Subscription: ...
    async def __anext__(self) -> Any: ...
    async def receive(self, timeout: Seconds | None = None) -> Any:
        """Return the next message; raise TimeoutError when ``timeout`` passes."""

class State:
    """Tokens, sessions, rate limits, pub/sub and temporary values."""

    async def issue_tokens(
        self, subject: str, claims: Any, access_ttl: Seconds, refresh_ttl: Seconds
    ) -> dict[str, Any]:
        """Issue a new token family."""
    async def verify_access(self, access_token: str) -> dict[str, Any]:
        """Return the claims of a live access token."""
    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """Exchange a refresh token for a new pair."""
    async def revoke_family(self, family_id: str) -> bool:
        """Revoke every token of a family."""
    async def revoke_token(self, token: str) -> bool:
        """Revoke one token."""
    async def create_session(self, data: Mapping[str, Any], ttl: Seconds) -> dict[str, Any]:
        """Create a session."""
    async def get_session(self, id: str) -> dict[str, Any] | None:
        """Return a live session, or None."""
    async def update_session(self, id: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
        """Replace a live session's data."""
    async def touch_session(self, id: str, ttl: Seconds) -> dict[str, Any] | None:
        """Extend a live session."""
    async def delete_session(self, id: str) -> bool:
        """Delete a session."""
    async def rate_limit(self, key: str, limit: int, window: Seconds) -> dict[str, Any]:
        """Count one request against a fixed-window limit."""
    async def check_rate_limit(self, key: str, limit: int, window: Seconds) -> None:
        """Count one request; raise RateLimitedError over the limit."""
    async def publish(self, channel: str, message: Any) -> None:
        """Send a message to the channel's subscribers."""
    async def subscribe(self, channel: str) -> Subscription:
        """Subscribe to a channel."""
    async def set_temp(self, key: str, value: Any, ttl: Seconds) -> None:
        """Store a temporary value."""
    async def get_temp(self, key: str) -> Any:
        """Return a temporary value, or None."""
    async def delete_temp(self, key: str) -> bool:
        """Delete a temporary value."""

class Transforms:
    """The WebAssembly transform registry: versioned modules by name."""

    async def upload(
        self, name: str, wasm: bytes | PathLike, limits: Mapping[str, int] | None = None
    ) -> dict[str, Any]:
        """Validate and store a module; identical bytes return the existing version."""
    async def list(self) -> list[dict[str, Any]]:
        """Every version of every transform, without the bytes."""
    async def versions(self, name: str) -> list[dict[str, Any]]:
        """The versions of one transform, oldest first."""
    async def get(self, name: str, version: int | None = None) -> dict[str, Any]:
        """``{"info": ..., "wasm": bytes}`` of a version, the latest by default."""
    async def delete(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """Delete one version, or every version."""
    async def usage(self, name: str, version: int | None = None) -> list[str]:
        """Ids of the linkers that would run this version, or any version."""
    async def call(
        self,
        name: str,
        records: Sequence[Mapping[str, Any]],
        params: Any = None,
        version: int | None = None,
    ) -> list[dict[str, Any]]:
        """Run a version over one batch of records."""

class Store:
    """An open store whose methods are awaitable."""

    users: Users
    catalogs: Repository
    controls: Repository
    scopes: Repository
    secrets: Secrets
    service_accounts: ServiceAccounts
    computations: Repository
    guarantee_points: Repository
    mashups: Repository
    datasources: Datasources
    linkers: Repository
    folders: Repository
    state: State
    transforms: Transforms
    @classmethod
    async def open(
        cls,
        relational_url: str | None = None,
        documents_url: str | None = None,
        cache_url: str | None = None,
        master_key: str | None = None,
        data_root: PathLike | None = None,
    ) -> Store:
        """Open a store; unset arguments come from POLYSTAT_* or the defaults."""
    @classmethod
    async def open_default(cls) -> Store:
        """Open the store of the POLYSTAT_* variables or ./polystat.db."""
    async def __aenter__(self) -> Store: ...
    async def __aexit__(self, *exc: object) -> None: ...
    @property
    def closed(self) -> bool:
        """Whether close() has run."""
    async def close(self) -> None:
        """Close the connection pools."""
    def cache_stats(self) -> dict[str, Any]:
        """Return the cache counters."""
    async def run_linker(
        self, linker_id: str, transforms: Mapping[str, PathLike] | None = None
    ) -> dict[str, Any]:
        """Run a stored linker."""
    async def test_linker(
        self,
        linker_id: str,
        transforms: Mapping[str, PathLike] | None = None,
        sample_size: int | None = None,
    ) -> dict[str, Any]:
        """Run a linker on a sample; write nothing."""
    async def linker_result(
        self,
        linker_id: str,
        transforms: Mapping[str, PathLike] | None = None,
        sample_size: int | None = None,
    ) -> dict[str, Any]:
        """Return a linker's output through the cache."""
    async def test_datasource(self, datasource_id: str) -> dict[str, Any]:
        """Test a datasource's connection."""
    async def import_oscal(self, catalog: PathLike | Mapping[str, Any]) -> dict[str, Any]:
        """Import an OSCAL catalog file or document."""
    async def evaluate_job(
        self, job_path: PathLike, data_dir: PathLike | None = None
    ) -> dict[str, Any]:
        """Run a job file as polystat evaluate does."""
    async def evaluate_control(
        self,
        control_id: str,
        records: list[Mapping[str, Any]],
        transforms: Mapping[str, PathLike],
        transform: str,
        period: Mapping[str, Any],
        params: Any = None,
        scope: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Evaluate one control over linked records; store nothing."""
    def changes(self, entities: list[str] | None = None) -> Subscription:
        """Subscribe to change events of the named repositories."""
