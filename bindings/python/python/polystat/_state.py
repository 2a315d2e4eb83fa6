"""Synchronous state API: tokens, sessions, rate limits, pub/sub and
temporary values."""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping
from typing import Any

from . import _native
from ._errors import TimeoutError, UnavailableError
from ._repository import run_sync

Seconds = float | datetime.timedelta

# How long one blocking wait for a message lasts before control returns to
# the interpreter, so that signal handlers such as Ctrl-C run.
POLL_SECONDS = 0.25


def seconds(value: Seconds) -> float:
    """Convert a duration given as seconds or a timedelta into seconds."""
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return float(value)


class State:
    """Tokens, sessions, rate limits, pub/sub and temporary values of a store.

    Durations are seconds (int or float) or ``datetime.timedelta``.
    """

    _run = staticmethod(run_sync)

    def __init__(self, store: Any) -> None:
        self._native = _native.NativeState(store)

    def issue_tokens(
        self, subject: str, claims: Any, access_ttl: Seconds, refresh_ttl: Seconds
    ) -> Any:
        """Issue a new token family; return ``access_token``,
        ``refresh_token``, their expiry instants and ``family_id``."""
        operation = self._native.issue_tokens(
            subject, claims, seconds(access_ttl), seconds(refresh_ttl)
        )
        return self._run(operation)

    def verify_access(self, access_token: str) -> Any:
        """Return ``subject``, ``claims``, ``family_id`` and ``expires_at`` of
        a live access token; raise UnauthorizedError otherwise."""
        return self._run(self._native.verify_access(access_token))

    def refresh(self, refresh_token: str) -> Any:
        """Exchange a refresh token for a new pair. Presenting a used refresh
        token again revokes the whole family and raises UnauthorizedError."""
        return self._run(self._native.refresh(refresh_token))

    def revoke_family(self, family_id: str) -> Any:
        """Revoke every token of a family; return whether it existed."""
        return self._run(self._native.revoke_family(family_id))

    def revoke_token(self, token: str) -> Any:
        """Revoke one access or refresh token; return whether it existed."""
        return self._run(self._native.revoke_token(token))

    def create_session(self, data: Mapping[str, Any], ttl: Seconds) -> Any:
        """Create a session; return ``id``, ``data`` and ``expires_at``."""
        return self._run(self._native.create_session(data, seconds(ttl)))

    def get_session(self, id: str) -> Any:
        """Return a live session, or None when it is unknown or expired."""
        return self._run(self._native.get_session(id))

    def update_session(self, id: str, data: Mapping[str, Any]) -> Any:
        """Replace a live session's data and keep its expiry; return the
        session, or None when it is unknown or expired."""
        return self._run(self._native.update_session(id, data))

    def touch_session(self, id: str, ttl: Seconds) -> Any:
        """Set a live session's expiry to now + ``ttl``; return the session,
        or None when it is unknown or expired."""
        return self._run(self._native.touch_session(id, seconds(ttl)))

    def delete_session(self, id: str) -> Any:
        """Delete a session; return whether a live session was deleted."""
        return self._run(self._native.delete_session(id))

    def rate_limit(self, key: str, limit: int, window: Seconds) -> Any:
        """Count one request against ``limit`` per fixed ``window``; return
        ``allowed``, ``remaining``, ``retry_after`` and ``reset_after``."""
        return self._run(self._native.rate_limit(key, limit, seconds(window)))

    def check_rate_limit(self, key: str, limit: int, window: Seconds) -> Any:
        """Count one request; raise RateLimitedError (with ``retry_after``
        in seconds) when it is over the limit."""
        return self._run(self._native.check_rate_limit(key, limit, seconds(window)))

    def publish(self, channel: str, message: Any) -> Any:
        """Send a JSON-compatible message to the channel's current
        subscribers. Delivery is at most once."""
        return self._run(self._native.publish(channel, message))

    def subscribe(self, channel: str) -> Any:
        """Subscribe to a channel; messages published after this returns are
        delivered to the returned :class:`Subscription`."""
        return self._run(self._native.subscribe(channel), Subscription)

    def set_temp(self, key: str, value: Any, ttl: Seconds) -> Any:
        """Store a temporary value that expires after ``ttl``."""
        return self._run(self._native.set_temp(key, value, seconds(ttl)))

    def get_temp(self, key: str) -> Any:
        """Return a temporary value, or None when it has expired."""
        return self._run(self._native.get_temp(key))

    def delete_temp(self, key: str) -> Any:
        """Delete a temporary value; return whether a live one was deleted."""
        return self._run(self._native.delete_temp(key))


class Subscription:
    """Messages of one pub/sub channel, as an iterator.

    Iteration blocks (with the GIL released) until a message arrives and
    stops when the subscription ends. One subscription may be read from
    several threads; each message goes to one reader.
    """

    def __init__(self, native: Any) -> None:
        self._native = native

    @property
    def channel(self) -> str:
        """Channel name as given to ``subscribe``."""
        return str(self._native.channel)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        while True:
            status, value = self._native.next(POLL_SECONDS).wait()
            if status == "message":
                return value
            if status == "end":
                raise StopIteration

    def receive(self, timeout: Seconds | None = None) -> Any:
        """Return the next message. Raise polystat.TimeoutError when
        ``timeout`` passes first, and UnavailableError once the subscription
        has ended."""
        limit = None if timeout is None else seconds(timeout)
        status, value = self._native.next(limit).wait()
        return message_or_raise(self.channel, status, value, limit)


def message_or_raise(channel: str, status: str, value: Any, limit: float | None) -> Any:
    if status == "message":
        return value
    if status == "timeout":
        error = TimeoutError(f"no message on channel {channel!r} within {limit} s")
        error.operation = "receive"
        error.after = limit or 0.0
        raise error
    raise UnavailableError(f"the subscription to channel {channel!r} has ended")
