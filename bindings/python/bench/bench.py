"""Benchmark of the Python binding; prints one JSON object.

- ``py_get_cached_us``: microseconds per ``get`` of one record that is in the
  tier-1 cache, embedded store, one thread.
- ``ratios.py_list_vs_pymongo``: time of pymongo reading ``--count``
  computations into dicts (``list(collection.find())``) divided by the time
  of polystat listing the same documents into record dicts with
  ``list_all()``, on the same MongoDB server. Above 1 means polystat is
  faster.

Usage (the MongoDB URL defaults to ``POLYSTAT_TEST_MONGODB_URL``)::

    python bindings/python/bench/bench.py --mongodb-url mongodb://127.0.0.1:57017/polystat

Build the wheel in release mode first (``maturin build --release``):
figures from a dev build measure unoptimized Rust. ``polystat-bench python``
does both.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from typing import Any

import polystat

INSERT_BATCH = 5000


def bench_cached_get(folder: str, calls: int) -> float:
    url = f"sqlite://{os.path.join(folder, 'bench.db')}"
    with polystat.Store.open(relational_url=url, documents_url=url, cache_url="memory") as store:
        record = store.catalogs.create({"name": "cached", "start_date": "2024-01-01T00:00:00Z"})
        for _ in range(1000):
            store.catalogs.get(record["id"])
        started = time.perf_counter()
        for _ in range(calls):
            store.catalogs.get(record["id"])
        elapsed = time.perf_counter() - started
        hits = store.cache_stats()["tier1"]["hits"]
    assert hits >= calls, f"only {hits} tier-1 hits for {calls} gets"
    return elapsed / calls * 1e6


def computation(control_id: str, group: str, index: int) -> dict[str, Any]:
    return {
        "computationGroup": group,
        "controlId": control_id,
        "scope": {"repository": "bench", "n": index},
        "period": {"from": "2024-01-01T00:00:00Z", "to": "2024-02-01T00:00:00Z"},
        "value": index % 3 != 0,
        "evidences": [
            {"id": f"e{index}", "key": str(index), "value": {"n": index}, "result": index % 2 == 0}
        ],
    }


def fill(store: polystat.Store, count: int) -> None:
    catalog = store.catalogs.create({"name": "bench", "start_date": "2024-01-01T00:00:00Z"})
    control = store.controls.create(
        {"catalog_id": catalog["id"], "name": "bench", "start_date": "2024-01-01T00:00:00Z"}
    )
    group = str(uuid.uuid4())
    for start in range(0, count, INSERT_BATCH):
        batch = [computation(control["id"], group, i) for i in range(start, min(count, start + INSERT_BATCH))]
        store.computations.bulk_insert(batch)


def time_polystat(store: polystat.Store, count: int) -> float:
    started = time.perf_counter()
    records = store.computations.list_all()
    elapsed = time.perf_counter() - started
    assert len(records) == count, f"polystat listed {len(records)} of {count}"
    return elapsed


def time_pymongo(collection: Any, count: int) -> float:
    started = time.perf_counter()
    documents = list(collection.find({}))
    elapsed = time.perf_counter() - started
    assert len(documents) == count, f"pymongo read {len(documents)} of {count}"
    return elapsed


def bench_list(folder: str, mongodb_url: str, count: int, runs: int) -> dict[str, float]:
    """Fastest of ``runs`` listings per side. The sides alternate, so a burst
    of load on the machine or the server slows both alike."""
    import pymongo

    database = f"pybench_{uuid.uuid4().hex}"
    base = mongodb_url.rsplit("/", 1)[0]
    sqlite = f"sqlite://{os.path.join(folder, 'relational.db')}"
    client: Any = pymongo.MongoClient(f"{base}/{database}")
    polystat_seconds = pymongo_seconds = float("inf")
    try:
        with polystat.Store.open(
            relational_url=sqlite, documents_url=f"{base}/{database}", cache_url="memory"
        ) as store:
            fill(store, count)
            collection = client[database]["computations"]
            for _ in range(runs):
                polystat_seconds = min(polystat_seconds, time_polystat(store, count))
                pymongo_seconds = min(pymongo_seconds, time_pymongo(collection, count))
    finally:
        client.drop_database(database)
        client.close()
    return {"polystat_s": polystat_seconds, "pymongo_s": pymongo_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the polystat Python binding.")
    parser.add_argument("--mongodb-url", default=os.environ.get("POLYSTAT_TEST_MONGODB_URL"))
    parser.add_argument("--count", type=int, default=100_000, help="computations to list")
    parser.add_argument("--gets", type=int, default=100_000, help="cached gets to time")
    parser.add_argument("--runs", type=int, default=3, help="timed listings per side")
    args = parser.parse_args()
    if not args.mongodb_url:
        parser.error("set --mongodb-url or POLYSTAT_TEST_MONGODB_URL")
    with tempfile.TemporaryDirectory() as folder:
        get_us = bench_cached_get(folder, args.gets)
        listing = bench_list(folder, args.mongodb_url, args.count, args.runs)
    result = {
        "py_get_cached_us": round(get_us, 3),
        "list_count": args.count,
        "runs": args.runs,
        "py_list_s": round(listing["polystat_s"], 3),
        "pymongo_list_s": round(listing["pymongo_s"], 3),
        "ratios": {"py_list_vs_pymongo": round(listing["pymongo_s"] / listing["polystat_s"], 3)},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
