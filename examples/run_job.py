"""Runs a site with panoray's Python API: as a Ray job, in a notebook, or by hand.

    ray job submit --working-dir . -- python examples/run_job.py site.yaml --output /data/out
    python examples/run_job.py pipeline/demo/demo.yaml --output out      # a local Ray

It runs every camera offline (files to their end, nothing dropped), then prints the
summary and, per camera and zone or line, the visits and crossings read back from the
run's Parquet tables as Arrow tables. The last line is the result as one JSON object.
"""

from __future__ import annotations

import argparse
import json

import pyarrow.compute as pc

from pipeline import Site, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="site YAML")
    parser.add_argument("--output", default=None, help="output folder (overrides sinks)")
    parser.add_argument("--address", default=None, help="Ray cluster (default: the job's)")
    args = parser.parse_args()
    result = run(Site.from_yaml(args.config), offline=True, address=args.address,
                 output_dir=args.output)
    events, metrics = result.events(), result.metrics()
    kinds = pc.value_counts(events.column("kind")).to_pylist() if events.num_rows else []
    print(json.dumps({"why": result.why, "run_id": result.run_id,
                      "output_dir": str(result.output_dir),
                      "events": {k["values"]: k["counts"] for k in kinds},
                      "metrics_rows": metrics.num_rows,
                      "cameras": result.summary["cameras"]}))


if __name__ == "__main__":
    main()
