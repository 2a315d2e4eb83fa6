"""Run the `link` suite's job with polars.

Usage: link_polars.py PULLS_JSON REVIEWS_JSON OUTPUT_JSONL

Reads the pull requests and reviews, takes each review's PR number from the
end of its `pull_request_url`, left-joins the reviews to the pull requests on
that number and writes one JSON object per line. The last stdout line is a
JSON report whose `seconds` covers reading through writing, not the imports.
"""

import json
import sys
import time

import polars as pl


def main(pulls_path, reviews_path, output_path):
    started = time.perf_counter()
    pulls = pl.read_json(pulls_path)
    reviews = pl.read_json(reviews_path)

    left = pulls.select(
        pl.col("number"),
        pl.col("user").struct.field("login").alias("author"),
        pl.col("merged_at"),
    )
    right = reviews.select(
        pl.col("pull_request_url")
        .str.extract(r"/(\d+)$", 1)
        .cast(pl.Int64)
        .alias("number"),
        pl.col("user").struct.field("login").alias("reviewer"),
        pl.col("state").alias("review_state"),
    )
    joined = left.join(right, on="number", how="left")
    joined.write_ndjson(output_path)
    seconds = time.perf_counter() - started

    report = {
        "seconds": seconds,
        "pulls": pulls.height,
        "reviews": reviews.height,
        "output_records": joined.height,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
