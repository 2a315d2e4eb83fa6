"""The example analysis script on data written by the main job."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

import polystat
from conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "examples" / "python" / "pass_ratio.py"
DIST = REPO_ROOT / "transforms" / "dist"


def require_transforms() -> None:
    for name in ("pr-number", "review-rule"):
        if not (DIST / f"{name}.wasm").exists():
            pytest.skip(f"{DIST / name}.wasm is missing; run transforms/build.sh first")


def evaluate(db: pathlib.Path, job: str, data_dir: pathlib.Path | None) -> dict:
    url = f"sqlite://{db}"
    with polystat.Store.open(relational_url=url, documents_url=url, cache_url="memory") as store:
        report = store.evaluate_job(REPO_ROOT / "examples" / "jobs" / job, data_dir)
    return report


def run_script(db: pathlib.Path) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("POLYSTAT_")}
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def row_of(output: str, control: str) -> list[str]:
    rows = [line.split() for line in output.splitlines()]
    matching = [row for row in rows if row and row[0] == control]
    assert len(matching) == 1, output
    return matching[0]


def test_pass_ratio_sample_job(tmp_path: pathlib.Path) -> None:
    require_transforms()
    db = tmp_path / "polystat.db"
    report = evaluate(db, "sample-pull-request-review.json", None)

    output = run_script(db)

    cm3 = report["evaluations"][0]
    assert row_of(output, "cm-3") == ["cm-3", str(cm3["evidences"]), str(cm3["passing"]), "0.333"]


def test_pass_ratio_cm3_job(tmp_path: pathlib.Path) -> None:
    require_transforms()
    shared = os.environ.get("POLYSTAT_SHARED_DATA")
    if not shared:
        pytest.skip("POLYSTAT_SHARED_DATA is not set")
    db = tmp_path / "polystat.db"
    report = evaluate(db, "cm3-pull-request-review.json", pathlib.Path(shared))

    output = run_script(db)

    cm3 = report["evaluations"][0]
    ratio = f"{cm3['passing'] / cm3['evidences']:.3f}"
    assert cm3["evidences"] > 0
    assert row_of(output, "cm-3") == ["cm-3", str(cm3["evidences"]), str(cm3["passing"]), ratio]
