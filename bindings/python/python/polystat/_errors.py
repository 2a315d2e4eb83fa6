"""Exception classes of polystat, one per error kind of the Rust core.

Every class derives from :class:`Error` and carries the stable ``code`` of its
kind, the same code that the Rust core and the Node binding use.
"""

from __future__ import annotations


class Error(Exception):
    """Root of every error raised by polystat.

    Attributes:
        code: stable machine-readable code of the kind, such as ``"NOT_FOUND"``.
        cause: text of the underlying Rust error chain (driver or I/O error),
            or ``None``. The same text is set as ``__cause__``.
    """

    code: str = "ERROR"
    cause: str | None = None


class NotFoundError(Error):
    """The record does not exist. ``entity`` and ``id`` name it."""

    code = "NOT_FOUND"
    entity: str
    id: str


class ConflictError(Error):
    """A write lost a race (stale ``expected_version``) or broke a uniqueness
    rule. Read the record again and retry."""

    code = "CONFLICT"
    entity: str
    id: str
    reason: str


class ValidationError(Error):
    """The input failed validation. ``field`` names the offending field or
    path, and ``reason`` explains the rejection."""

    code = "VALIDATION"
    field: str = ""
    reason: str = ""


class ReferenceError(Error):
    """A reference across records is missing, or a record is still in use.

    It is a subclass of :class:`Error` and unrelated to the built-in
    ``ReferenceError`` of weak references. Refer to it through the module,
    as ``polystat.ReferenceError``, to keep the two apart.
    """

    code = "REFERENCE"
    entity: str
    id: str
    reason: str


class UnavailableError(Error):
    """A backend could not be reached or failed. ``backend`` names it."""

    code = "UNAVAILABLE"
    backend: str
    reason: str


class TimeoutError(Error):
    """An operation ran past its time limit (``after``, in seconds).

    It is ``polystat.TimeoutError`` and derives from :class:`Error`, not from
    the built-in ``TimeoutError``; refer to it through the module.
    """

    code = "TIMEOUT"
    operation: str
    after: float


class TransformError(Error):
    """A WebAssembly transform trapped or hit a limit. ``limit`` is
    ``"fuel"``, ``"deadline"``, ``"memory"``, ``"output size"`` or ``None``
    for a trap."""

    code = "TRANSFORM"
    module: str
    limit: str | None
    reason: str


class UnauthorizedError(Error):
    """Credentials were missing or wrong."""

    code = "UNAUTHORIZED"
    reason: str


class RateLimitedError(Error):
    """A rate limit was hit; retry after ``retry_after`` seconds."""

    code = "RATE_LIMITED"
    retry_after: float = 0.0


class ConfigurationError(Error):
    """The store configuration is invalid (bad URL, missing master key), or
    the store cannot be used here: it is closed, or it was opened in the
    parent of a forked process."""

    code = "CONFIGURATION"
    reason: str


CLASSES_BY_CODE: dict[str, type[Error]] = {
    cls.code: cls
    for cls in (
        NotFoundError,
        ConflictError,
        ValidationError,
        ReferenceError,
        UnavailableError,
        TimeoutError,
        TransformError,
        UnauthorizedError,
        RateLimitedError,
        ConfigurationError,
    )
}

