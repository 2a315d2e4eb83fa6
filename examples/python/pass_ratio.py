"""Tabulate the pass ratio of each evaluated control.

Reads the computations that ``polystat evaluate`` stored (for example the
cm-3 pull request review job) and prints, per control, how many pieces of
evidence were evaluated, how many passed, and the ratio::

    polystat evaluate examples/jobs/cm3-pull-request-review.json --data-dir DIR
    python examples/python/pass_ratio.py

The store is the one ``polystat`` uses: the ``POLYSTAT_*`` environment
variables, or ``polystat.db`` in the working directory. ``--db FILE`` names
another SQLite file. Requires pandas.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import pandas as pd

import polystat


def open_store(db: str | None) -> polystat.Store:
    if db is None:
        return polystat.Store.open_default()
    url = f"sqlite://{db}"
    return polystat.Store.open(relational_url=url, documents_url=url)


def evidence_rows(store: polystat.Store) -> list[dict[str, Any]]:
    """Return one row per computation: control, period and evidence counts."""
    names: dict[str, str] = {}
    rows = []
    for computation in store.computations.iter():
        control_id = computation["controlId"]
        if control_id not in names:
            control = store.controls.get(control_id)
            names[control_id] = control["external_id"] or control["name"]
        evidences = computation["evidences"]
        rows.append(
            {
                "control": names[control_id],
                "from": computation["period"]["from"],
                "to": computation["period"]["to"],
                "evidences": len(evidences),
                "passing": sum(1 for evidence in evidences if evidence["result"]),
            }
        )
    return rows


def pass_ratios(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Sum the evidence counts per control and add the pass ratio."""
    frame = pd.DataFrame(rows, columns=["control", "from", "to", "evidences", "passing"])
    table = frame.groupby("control", as_index=False)[["evidences", "passing"]].sum()
    table["pass_ratio"] = (table["passing"] / table["evidences"]).where(table["evidences"] > 0)
    return table.sort_values("control", ignore_index=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="SQLite file written by polystat evaluate")
    args = parser.parse_args()
    with open_store(args.db) as store:
        rows = evidence_rows(store)
    if not rows:
        print("no computations found; run polystat evaluate first", file=sys.stderr)
        return 1
    print(pass_ratios(rows).to_string(index=False, float_format="{:.3f}".format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
