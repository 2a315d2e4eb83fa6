"""Runs the language-neutral cases in ``tests/cases/*.json``, the same table
that the Rust suite runs, through the Python API."""

from __future__ import annotations

import datetime
import json
import pathlib
import uuid
from typing import Any

import pytest

import polystat
from conftest import REPO_ROOT, open_target

CASES_DIR = REPO_ROOT / "tests" / "cases"
STORE_OPS = (
    "subscribe",
    "nextChange",
    "evaluateControl",
    "writeFile",
    "runLinker",
    "uploadTransform",
    "transformVersions",
    "callTransform",
    "deleteTransform",
)


def load_cases() -> list[Any]:
    params = []
    for path in sorted(CASES_DIR.glob("*.json")):
        for case in json.loads(path.read_text())["cases"]:
            params.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return params


def resolve(value: Any, saved: dict[str, Any]) -> Any:
    """Replace each ``${name.path}`` string with the saved value."""
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        name, *segments = value[2:-1].split(".")
        current = saved[name]
        for segment in segments:
            current = current[int(segment)] if segment.isdigit() else current[segment]
        return current
    if isinstance(value, list):
        return [resolve(item, saved) for item in value]
    if isinstance(value, dict):
        return {key: resolve(item, saved) for key, item in value.items()}
    return value


def to_instant(value: Any) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else None
    return None


def has_type(kind: str, value: Any) -> bool:
    checks = {
        "string": lambda v: isinstance(v, str),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "instant": lambda v: isinstance(v, datetime.datetime) and v.tzinfo is not None,
    }
    if kind == "uuid":
        try:
            uuid.UUID(value)
        except (TypeError, ValueError, AttributeError):
            return False
        return True
    return checks[kind](value)


def check_match(expected: Any, actual: Any, path: str = "result") -> None:
    """Assert that ``actual`` matches ``expected`` by the rules of tests/cases/README.md."""
    if isinstance(expected, dict) and "$type" in expected:
        assert has_type(expected["$type"], actual), f"{path}: expected {expected}, got {actual!r}"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        for key, item in expected.items():
            assert key in actual, f"{path}.{key}: missing"
            check_match(item, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected an array, got {actual!r}"
        assert len(expected) == len(actual), f"{path}: expected {len(expected)} items, got {len(actual)}"
        for index, (want, got) in enumerate(zip(expected, actual)):
            check_match(want, got, f"{path}[{index}]")
    elif isinstance(expected, str) and to_instant(expected) and to_instant(actual):
        assert to_instant(expected) == to_instant(actual), f"{path}: expected {expected}, got {actual!r}"
    else:
        assert expected == actual, f"{path}: expected {expected!r}, got {actual!r}"


def run_store_step(
    store: polystat.Store,
    step: dict[str, Any],
    feeds: dict[str, polystat.Subscription],
    data_root: pathlib.Path,
) -> Any:
    op = step["op"]
    if op == "writeFile":
        (data_root / step["path"]).write_text(json.dumps(step["content"]))
        return None
    if op == "runLinker":
        modules = {name: REPO_ROOT / path for name, path in step["transforms"].items()}
        return store.run_linker(step["id"], modules)
    if op == "subscribe":
        feeds[step["subscription"]] = store.changes(step.get("entities"))
        return None
    if op == "nextChange":
        return feeds[step["subscription"]].receive(timeout=5)
    registry = store.transforms
    if op == "uploadTransform":
        return registry.upload(step["name"], REPO_ROOT / step["path"], step.get("limits"))
    if op == "transformVersions":
        return registry.versions(step["name"])
    if op == "callTransform":
        return registry.call(step["name"], step["records"], step.get("params"), step.get("version"))
    if op == "deleteTransform":
        return registry.delete(step["name"], step.get("version"))
    transforms = {name: REPO_ROOT / path for name, path in step["transforms"].items()}
    data = step["input"]
    return store.evaluate_control(
        data["controlId"],
        data["records"],
        transforms,
        data["transform"],
        data["period"],
        data.get("params"),
        data.get("scope"),
    )


def run_step(
    store: polystat.Store,
    step: dict[str, Any],
    feeds: dict[str, polystat.Subscription],
    data_root: pathlib.Path,
) -> Any:
    if step["op"] in STORE_OPS:
        return run_store_step(store, step, feeds, data_root)
    repo = getattr(store, step["entity"])
    op = step["op"]
    if op == "create":
        return repo.create(step["data"])
    if op == "bulkInsert":
        return repo.bulk_insert(step["items"])
    if op == "get":
        return repo.get(step["id"])
    if op == "find":
        return repo.find(step["id"])
    if op == "update":
        return repo.update(step["id"], step["expectedVersion"], step["data"])
    if op == "delete":
        return repo.delete(step["id"], step.get("expectedVersion"))
    if op == "list":
        page = repo.list(step.get("filter"), step.get("sort"), step.get("limit"), step.get("cursor"))
        return {"items": list(page), "nextCursor": page.next_cursor}
    if op == "listAll":
        return repo.list_all(step.get("filter"), step.get("sort"))
    if op == "count":
        return repo.count(step.get("filter"))
    if op == "findOne":
        return repo.find_one(step.get("filter"))
    raise AssertionError(f"unknown op {op!r} in a case file")


@pytest.mark.parametrize("case", load_cases())
def test_shared_case(case: dict[str, Any], target: str, tmp_path: pathlib.Path) -> None:
    saved: dict[str, Any] = {}
    feeds: dict[str, polystat.Subscription] = {}
    with open_target(target, tmp_path) as store:
        for index, raw in enumerate(case["steps"]):
            step = resolve(raw, saved)
            where = f"step {index} ({step['op']})"
            expected_error = step.get("expectError")
            if expected_error is not None:
                with pytest.raises(polystat.Error) as caught:
                    run_step(store, step, feeds, tmp_path)
                assert caught.value.code == expected_error["code"], f"{where}: {caught.value}"
                if "field" in expected_error:
                    assert isinstance(caught.value, polystat.ValidationError), where
                    assert caught.value.field == expected_error["field"], where
                continue
            result = run_step(store, step, feeds, tmp_path)
            if "expect" in step:
                check_match(step["expect"], result, where)
            if "save" in step:
                saved[step["save"]] = result
