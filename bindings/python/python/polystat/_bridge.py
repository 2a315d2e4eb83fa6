"""Completion of asyncio futures from the native runtime's threads."""

from __future__ import annotations

import asyncio
from typing import Any


def settle_future(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    """Set the result or exception of ``future`` unless it was cancelled.

    The native runtime schedules this on the event loop with
    ``call_soon_threadsafe``, because asyncio futures are not thread-safe.
    """
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
