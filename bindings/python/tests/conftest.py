"""Fixtures shared by the polystat test suite.

Tests that need the test servers run when ``POLYSTAT_TEST_POSTGRES_URL``,
``POLYSTAT_TEST_MONGODB_URL`` and ``POLYSTAT_TEST_REDIS_URL`` are set (as
``tests/run.sh`` does) and are skipped otherwise. Each store gets its own
PostgreSQL schema, MongoDB database and Redis key prefix.
"""

from __future__ import annotations

import os
import pathlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import polystat

# 32 zero bytes in base64: a fixed master key for tests.
TEST_MASTER_KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
SERVER_VARIABLES = (
    "POLYSTAT_TEST_POSTGRES_URL",
    "POLYSTAT_TEST_MONGODB_URL",
    "POLYSTAT_TEST_REDIS_URL",
)
REPO_ROOT = pathlib.Path(__file__).resolve().parents[3]


def servers_configured() -> bool:
    return all(os.environ.get(name) for name in SERVER_VARIABLES)


def unique_name() -> str:
    return f"py_{uuid.uuid4().hex}"


def embedded_urls(folder: pathlib.Path) -> dict[str, str]:
    url = f"sqlite://{folder / 'polystat.db'}"
    return {"relational_url": url, "documents_url": url, "cache_url": "memory"}


def server_urls() -> dict[str, str]:
    """URLs of a fresh, isolated store on the test servers."""
    name = unique_name()
    postgres = os.environ["POLYSTAT_TEST_POSTGRES_URL"]
    mongodb = os.environ["POLYSTAT_TEST_MONGODB_URL"].rsplit("/", 1)[0]
    redis = os.environ["POLYSTAT_TEST_REDIS_URL"].rstrip("/")
    return {
        "relational_url": f"{postgres}?options[search_path]={name}",
        "documents_url": f"{mongodb}/{name}",
        "cache_url": f"{redis}/?prefix={name}:",
    }


TARGETS = [
    "embedded",
    pytest.param(
        "servers",
        marks=pytest.mark.skipif(
            not servers_configured(), reason="test servers are not configured"
        ),
    ),
]


def open_target(target: str, folder: pathlib.Path) -> polystat.Store:
    urls = embedded_urls(folder) if target == "embedded" else server_urls()
    return polystat.Store.open(master_key=TEST_MASTER_KEY, data_root=folder, **urls)


@pytest.fixture(params=TARGETS)
def target(request: Any) -> str:
    return str(request.param)


@pytest.fixture
def store(tmp_path: pathlib.Path) -> Iterator[polystat.Store]:
    """An embedded store in a fresh folder."""
    with open_target("embedded", tmp_path) as opened:
        yield opened


@pytest.fixture
def any_store(target: str, tmp_path: pathlib.Path) -> Iterator[polystat.Store]:
    """A store on each target: embedded, then the servers when configured."""
    with open_target(target, tmp_path) as opened:
        yield opened


@pytest.fixture
def urls(tmp_path: pathlib.Path) -> dict[str, str]:
    return embedded_urls(tmp_path)


def catalog_data(name: str = "Baseline") -> dict[str, Any]:
    return {"name": name, "start_date": "2024-01-01T00:00:00Z"}
