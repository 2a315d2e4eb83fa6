"""Threads, re-entrant consumers, fork and asyncio.

Every wait below has a watchdog timeout, so a deadlock fails the test
instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import threading
import time
from typing import Any

import pytest

import polystat
import polystat.aio
from conftest import catalog_data, embedded_urls

WATCHDOG_SECONDS = 120
THREADS = 8


def join_all(threads: list[threading.Thread]) -> None:
    deadline = time.monotonic() + WATCHDOG_SECONDS
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    alive = [t.name for t in threads if t.is_alive()]
    assert not alive, f"threads still running after {WATCHDOG_SECONDS} s: {alive}"


def test_threads_run_in_parallel(store: polystat.Store) -> None:
    # A filtered count scans every row in Rust, long enough for the calls of
    # different threads to overlap if the GIL is released while they run.
    store.scopes.bulk_insert([{"name": f"scope_{i}", "type": "t"} for i in range(3000)])
    intervals: list[tuple[int, float, float]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(index: int) -> None:
        try:
            start.wait(WATCHDOG_SECONDS)
            for _ in range(3):
                began = time.perf_counter()
                assert store.scopes.count({"type": "t"}) == 3000
                intervals.append((index, began, time.perf_counter()))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,), name=f"worker-{i}") for i in range(THREADS)]
    for thread in threads:
        thread.start()
    join_all(threads)

    assert not errors, errors
    assert len(intervals) == THREADS * 3
    overlapping = {
        (a, b)
        for a, a_start, a_end in intervals
        for b, b_start, b_end in intervals
        if a < b and a_start < b_end and b_start < a_end
    }
    assert overlapping, "no two threads were inside the store at the same time"


def test_subscriber_thread_with_busy_main_thread(store: polystat.Store) -> None:
    subscription = store.state.subscribe("events")
    received: list[Any] = []

    def consume() -> None:
        for message in subscription:
            received.append(message)
            if len(received) == 20:
                return

    consumer = threading.Thread(target=consume, name="consumer")
    consumer.start()
    for n in range(20):
        record = store.folders.create({"name": f"folder {n}"})
        store.folders.get(record["id"])
        store.state.publish("events", {"n": n})
    join_all([consumer])

    assert [m["n"] for m in received] == list(range(20))


def test_forked_child_rejects_parent_store(urls: dict[str, str]) -> None:
    store = polystat.Store.open(**urls)
    record = store.catalogs.create(catalog_data())
    read, write = os.pipe()

    pid = os.fork()
    if pid == 0:
        os.close(read)
        os._exit(child_after_fork(store, urls, record["id"], write))
    os.close(write)
    status = wait_with_watchdog(pid)
    report = os.read(read, 4096).decode()
    os.close(read)

    assert os.WIFEXITED(status), f"child did not exit normally: {status}"
    assert os.WEXITSTATUS(status) == 0, report
    assert "after os.fork()" in report
    # The parent's store still works after the fork.
    assert store.catalogs.get(record["id"])["name"] == "Baseline"
    store.close()


def child_after_fork(store: polystat.Store, urls: dict[str, str], id: str, out: int) -> int:
    """Run in the child: the parent's store must raise, a new one must work."""
    try:
        try:
            store.catalogs.get(id)
            os.write(out, b"the parent's store ran in the child")
            return 1
        except polystat.ConfigurationError as error:
            os.write(out, str(error).encode() + b"\n")
        with polystat.Store.open(**urls) as child_store:
            if child_store.catalogs.get(id)["name"] != "Baseline":
                return 1
        return 0
    except BaseException as error:
        os.write(out, repr(error).encode())
        return 1


def wait_with_watchdog(pid: int) -> int:
    deadline = time.monotonic() + WATCHDOG_SECONDS
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return status
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail(f"forked child hung for {WATCHDOG_SECONDS} s")


def test_aio_api(tmp_path: pathlib.Path) -> None:
    async def main() -> None:
        store = await polystat.aio.Store.open(**embedded_urls(tmp_path))
        async with store:
            created = await store.catalogs.create(catalog_data())
            results = await asyncio.gather(*(store.catalogs.get(created["id"]) for _ in range(20)))
            await store.scopes.bulk_insert([{"name": f"s_{i}"} for i in range(5)])
            names = [r["name"] async for r in store.scopes.iter(page_size=2)]
            page = await store.scopes.list(limit=2)
            user = await store.users.register(
                {"username": "bob", "email": "bob@example.org", "password": "long enough"}
            )
            subscription = await store.state.subscribe("news")
            await store.state.publish("news", "hello")
            message = await asyncio.wait_for(subscription.__anext__(), WATCHDOG_SECONDS)
            with pytest.raises(polystat.NotFoundError):
                await store.folders.get("0190f000-0000-7000-8000-000000000000")

        assert all(r["id"] == created["id"] for r in results)
        assert names == [f"s_{i}" for i in range(5)]
        assert isinstance(page, polystat.Page)
        assert user["username"] == "bob"
        assert message == "hello"
        assert store.closed

    asyncio.run(asyncio.wait_for(main(), WATCHDOG_SECONDS))


def test_aio_cancel(tmp_path: pathlib.Path) -> None:
    async def main() -> None:
        store = await polystat.aio.Store.open(**embedded_urls(tmp_path))
        subscription = await store.state.subscribe("quiet")
        waiting = asyncio.ensure_future(subscription.receive())
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        # The store keeps working after a cancelled operation.
        assert await store.folders.count() == 0
        await store.close()

    asyncio.run(asyncio.wait_for(main(), WATCHDOG_SECONDS))
