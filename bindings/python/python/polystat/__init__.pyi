"""Type stubs of the synchronous polystat API."""

import datetime
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

Record = dict[str, Any]
Seconds = float | datetime.timedelta
PathLike = str | os.PathLike[str]

class Error(Exception):
    """Root of every error raised by polystat."""

    code: str
    cause: str | None

class NotFoundError(Error):
    """The record does not exist."""

    entity: str
    id: str

class ConflictError(Error):
    """A write lost a race (stale version) or broke a uniqueness rule."""

    entity: str
    id: str
    reason: str

class ValidationError(Error):
    """The input failed validation; ``field`` names the offending field."""

    field: str
    reason: str

class ReferenceError(Error):
    """A referenced record is missing, or a record is still in use. Not the
    built-in ``ReferenceError``."""

    entity: str
    id: str
    reason: str

class UnavailableError(Error):
    """A backend could not be reached or failed."""

    backend: str
    reason: str

class TimeoutError(Error):
    """An operation ran past its time limit. Not the built-in
    ``TimeoutError``."""

    operation: str
    after: float

class TransformError(Error):
    """A WebAssembly transform trapped or hit a limit."""

    module: str
    limit: str | None
    reason: str

class UnauthorizedError(Error):
    """Credentials were missing or wrong."""

    reason: str

class RateLimitedError(Error):
    """A rate limit was hit; retry after ``retry_after`` seconds."""

    retry_after: float

class ConfigurationError(Error):
    """The configuration is invalid, or the store is closed or was opened
    before a fork."""

    reason: str

class Page(Sequence[Record]):
    """One page of records; ``next_cursor`` is None on the last page."""

    items: list[Record]
    next_cursor: str | None
    def __init__(self, items: list[Record], next_cursor: str | None) -> None: ...
    def __iter__(self) -> Iterator[Record]: ...
    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, index: int) -> Record: ...
    @overload
    def __getitem__(self, index: slice) -> list[Record]: ...
    def to_pandas(self) -> Any:
        """Return the records as a pandas.DataFrame."""
    def to_arrow(self) -> Any:
        """Return the records as a pyarrow.Table."""

class Repository:
    """Records of one entity."""

    entity: str
    def create(self, data: Mapping[str, Any]) -> Record:
        """Validate and store a new record with version 1."""
    def bulk_insert(self, items: Iterable[Mapping[str, Any]]) -> list[Record]:
        """Store all items in one transaction, or none."""
    def get(self, id: str) -> Record:
        """Return the record; raise NotFoundError if there is none."""
    def find(self, id: str) -> Record | None:
        """Return the record, or None."""
    def update(self, id: str, expected_version: int, data: Mapping[str, Any]) -> Record:
        """Replace the fields if the stored version is ``expected_version``."""
    def delete(self, id: str, expected_version: int | None = None) -> None:
        """Delete the record, optionally only at ``expected_version``."""
    def list(
        self,
        filter: Mapping[str, Any] | None = None,
        sort: Mapping[str, int] | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        """Return one page of matching records."""
    def count(self, filter: Mapping[str, Any] | None = None) -> int:
        """Count matching records."""
    def find_one(self, filter: Mapping[str, Any] | None = None) -> Record | None:
        """Return the first matching record in id order, or None."""
    def pages(
        self,
        filter: Mapping[str, Any] | None = None,
        sort: Mapping[str, int] | None = None,
        page_size: int = 1000,
    ) -> Iterator[Page]:
        """Iterate over every page, following the cursors."""
    def iter(
        self,
        filter: Mapping[str, Any] | None = None,
        sort: Mapping[str, int] | None = None,
        page_size: int = 1000,
    ) -> Iterator[Record]:
        """Iterate over every matching record, a page at a time."""
    def list_all(
        self, filter: Mapping[str, Any] | None = None, sort: Mapping[str, int] | None = None
    ) -> list[Record]:
        """Return every matching record."""

class Users(Repository):
    """Users, with password registration and verification."""

    def register(self, data: Mapping[str, Any]) -> Record:
        """Create a user from username, email, password and optional role."""
    def verify_password(self, username: str, password: str) -> Record:
        """Return the user when the password matches."""
    def enable_two_factor(self, id: str, expected_version: int, totp_secret: str) -> Record:
        """Turn on two-factor sign-in."""

class Secrets(Repository):
    """Secrets, encrypted under the master key."""

    def create_secret(self, data: Mapping[str, Any]) -> Record:
        """Store a secret from name, value and optional type, environment, owner."""
    def reveal(self, id: str) -> str:
        """Decrypt and return the plaintext value."""
    def rotate(self, id: str, expected_version: int, value: str) -> Record:
        """Replace the value and record the rotation time."""

class ServiceAccounts(Repository):
    """Service accounts with API keys."""

    def create_account(self, data: Mapping[str, Any]) -> tuple[Record, str]:
        """Create an account; return the record and its API key."""
    def authenticate(self, api_key: str) -> Record:
        """Return the account of an enabled, unexpired key."""

class Datasources(Repository):
    """Datasources and their usage."""

    def usage(self, id: str) -> dict[str, list[str]]:
        """Return the linkers and mashups that read the datasource."""

class Subscription:
    """Messages of one pub/sub channel, as an iterator."""

    @property
    def channel(self) -> str:
        """Channel name."""
    def __iter__(self) -> Iterator[Any]: ...
    def __next__(self) -> Any: ...
    def receive(self, timeout: Seconds | None = None) -> Any:
        """Return the next message; raise TimeoutError when ``timeout`` passes."""

class State:
    """Tokens, sessions, rate limits, pub/sub and temporary values."""

    def issue_tokens(
        self, subject: str, claims: Any, access_ttl: Seconds, refresh_ttl: Seconds
    ) -> dict[str, Any]:
        """Issue a new token family."""
    def verify_access(self, access_token: str) -> dict[str, Any]:
        """Return the claims of a live access token."""
    def refresh(self, refresh_token: str) -> dict[str, Any]:
        """Exchange a refresh token for a new pair."""
    def revoke_family(self, family_id: str) -> bool:
        """Revoke every token of a family."""
    def revoke_token(self, token: str) -> bool:
        """Revoke one token."""
    def create_session(self, data: Mapping[str, Any], ttl: Seconds) -> dict[str, Any]:
        """Create a session."""
    def get_session(self, id: str) -> dict[str, Any] | None:
        """Return a live session, or None."""
    def update_session(self, id: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
        """Replace a live session's data."""
    def touch_session(self, id: str, ttl: Seconds) -> dict[str, Any] | None:
        """Extend a live session."""
    def delete_session(self, id: str) -> bool:
        """Delete a session."""
    def rate_limit(self, key: str, limit: int, window: Seconds) -> dict[str, Any]:
        """Count one request against a fixed-window limit."""
    def check_rate_limit(self, key: str, limit: int, window: Seconds) -> None:
        """Count one request; raise RateLimitedError over the limit."""
    def publish(self, channel: str, message: Any) -> None:
        """Send a message to the channel's subscribers."""
    def subscribe(self, channel: str) -> Subscription:
        """Subscribe to a channel."""
    def set_temp(self, key: str, value: Any, ttl: Seconds) -> None:
        """Store a temporary value."""
    def get_temp(self, key: str) -> Any:
        """Return a temporary value, or None."""
    def delete_temp(self, key: str) -> bool:
        """Delete a temporary value."""

class Transforms:
    """The WebAssembly transform registry: versioned modules by name."""

    def upload(
        self, name: str, wasm: bytes | PathLike, limits: Mapping[str, int] | None = None
    ) -> dict[str, Any]:
        """Validate and store a module; identical bytes return the existing version."""
    def list(self) -> list[dict[str, Any]]:
        """Every version of every transform, without the bytes."""
    def versions(self, name: str) -> list[dict[str, Any]]:
        """The versions of one transform, oldest first."""
    def get(self, name: str, version: int | None = None) -> dict[str, Any]:
        """``{"info": ..., "wasm": bytes}`` of a version, the latest by default."""
    def delete(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """Delete one version, or every version."""
    def usage(self, name: str, version: int | None = None) -> list[str]:
        """Ids of the linkers that would run this version, or any version."""
    def call(
        self,
        name: str,
        records: Sequence[Mapping[str, Any]],
        params: Any = None,
        version: int | None = None,
    ) -> list[dict[str, Any]]:
        """Run a version over one batch of records."""

class Store:
    """An open polystat store."""

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
    def open(
        cls,
        relational_url: str | None = None,
        documents_url: str | None = None,
        cache_url: str | None = None,
        master_key: str | None = None,
        data_root: PathLike | None = None,
    ) -> Store:
        """Open a store; unset arguments come from POLYSTAT_* or the defaults."""
    @classmethod
    def open_default(cls) -> Store:
        """Open the store of the POLYSTAT_* variables or ./polystat.db."""
    def __enter__(self) -> Store: ...
    def __exit__(self, *exc: object) -> None: ...
    @property
    def closed(self) -> bool:
        """Whether close() has run."""
    def close(self) -> None:
        """Close the connection pools."""
    def cache_stats(self) -> dict[str, Any]:
        """Return the cache counters."""
    def run_linker(
        self, linker_id: str, transforms: Mapping[str, PathLike] | None = None
    ) -> dict[str, Any]:
        """Run a stored linker and record its execution status."""
    def test_linker(
        self,
        linker_id: str,
        transforms: Mapping[str, PathLike] | None = None,
        sample_size: int | None = None,
    ) -> dict[str, Any]:
        """Run a linker on a sample; write nothing."""
    def linker_result(
        self,
        linker_id: str,
        transforms: Mapping[str, PathLike] | None = None,
        sample_size: int | None = None,
    ) -> dict[str, Any]:
        """Return a linker's output through the cache."""
    def test_datasource(self, datasource_id: str) -> dict[str, Any]:
        """Test a datasource's connection and record the outcome."""
    def import_oscal(self, catalog: PathLike | Mapping[str, Any]) -> dict[str, Any]:
        """Import an OSCAL catalog file or document."""
    def evaluate_job(self, job_path: PathLike, data_dir: PathLike | None = None) -> dict[str, Any]:
        """Run a job file as polystat evaluate does."""
    def evaluate_control(
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
