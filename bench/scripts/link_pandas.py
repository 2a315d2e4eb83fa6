"""Run the `link` suite's job with pandas.

Usage: link_pandas.py PULLS_JSON REVIEWS_JSON OUTPUT_JSONL

Reads the pull requests and reviews, takes each review's PR number from the
end of its `pull_request_url`, left-joins the reviews to the pull requests on
that number and writes one JSON object per line. The last stdout line is a
JSON report whose `seconds` covers reading through writing, not the imports.
"""

import json
import sys
import time

import pandas as pd


def main(pulls_path, reviews_path, output_path):
    started = time.perf_counter()
    # Dates stay strings and columns keep the types JSON gives them, as in
    # the polystat run, because pandas would otherwise convert the `*_at`
    # columns to timestamps.
    pulls = pd.read_json(pulls_path, convert_dates=False, dtype=False)
    reviews = pd.read_json(reviews_path, convert_dates=False, dtype=False)

    left = pd.DataFrame(
        {
            "number": pulls["number"],
            "author": pulls["user"].str.get("login"),
            "merged_at": pulls["merged_at"],
        }
    )
    numbers = reviews["pull_request_url"].str.extract(r"/(\d+)$", expand=False)
    right = pd.DataFrame(
        {
            "number": numbers.astype("int64"),
            "reviewer": reviews["user"].str.get("login"),
            "review_state": reviews["state"],
        }
    )
    joined = left.merge(right, on="number", how="left")
    joined.to_json(output_path, orient="records", lines=True)
    seconds = time.perf_counter() - started

    report = {
        "seconds": seconds,
        "pulls": len(pulls),
        "reviews": len(reviews),
        "output_records": len(joined),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
