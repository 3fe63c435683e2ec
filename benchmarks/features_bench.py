"""Benchmark: point-in-time features for a large world vs a plain group-by over the same activities.

Each measurement runs in a fresh child process so that its peak memory (max RSS) is its own.
The references run in the same invocation, on the same files, so ratios are comparable even on a
noisy machine:

* ``pandas_groupby``: read activities.parquet, ``groupby(["account_id", "activity_type"]).size()``
* ``duckdb_groupby``: the same group-by in DuckDB straight from the Parquet file
* ``features``: ``load_dataset`` (with full validation) + ``build_features`` for every account

Usage::

    python benchmarks/features_bench.py --accounts 100000 --months 12 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

WORK = Path(__file__).parent / "_work"


def _child(kind: str, data_dir: Path, as_of: str) -> dict:
    import pandas as pd

    started = time.perf_counter()
    if kind == "pandas_groupby":
        activities = pd.read_parquet(data_dir / "activities.parquet", columns=["account_id", "activity_type"])
        loaded = time.perf_counter()
        activities.groupby(["account_id", "activity_type"], observed=True).size()
        rows = len(activities)
    elif kind == "duckdb_groupby":
        import duckdb

        loaded = time.perf_counter()
        con = duckdb.connect()
        con.execute("SET threads TO 2")
        rows = con.execute(
            f"SELECT count(*) FROM (SELECT account_id, activity_type, count(*) FROM read_parquet('{data_dir / 'activities.parquet'}') "
            "GROUP BY 1, 2)"
        ).fetchone()[0]
    elif kind == "features":
        from b2bscore.data.load import load_dataset
        from b2bscore.features import build_features

        dataset, _ = load_dataset(data_dir, now=pd.Timestamp(as_of))
        loaded = time.perf_counter()
        rows = len(build_features(dataset, as_of=pd.Timestamp(as_of)))
    else:
        raise SystemExit(f"unknown benchmark kind {kind!r}")
    finished = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"kind": kind, "total_s": finished - started, "compute_s": finished - loaded, "peak_mb": peak_mb, "rows": rows}


def _measure(kind: str, data_dir: Path, as_of: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", kind, "--data", str(data_dir), "--as-of", as_of],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, help="use this world instead of generating one")
    parser.add_argument("--as-of", default=None, help="as-of date (default: the world's end)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(_child(args.child, args.data, args.as_of)))
        return

    data_dir = args.data
    if data_dir is None:
        from b2bscore.synth import WorldConfig, generate_world

        data_dir = WORK / f"world-{args.accounts}-{args.months}-{args.seed}"
        if not (data_dir / "accounts.parquet").exists():
            started = time.perf_counter()
            generate_world(WorldConfig(accounts=args.accounts, months=args.months, seed=args.seed), data_dir)
            print(f"generated {data_dir} in {time.perf_counter() - started:.1f} s")
    world = json.loads((data_dir / "truth" / "world.json").read_text()) if (data_dir / "truth" / "world.json").exists() else {}
    as_of = args.as_of or str(world.get("end"))

    results: dict[str, list[dict]] = {}
    for _ in range(args.repeat):
        for kind in ("pandas_groupby", "duckdb_groupby", "features"):
            results.setdefault(kind, []).append(_measure(kind, data_dir, as_of))

    import pandas as pd

    n_activities = len(pd.read_parquet(data_dir / "activities.parquet", columns=["activity_type"]))
    print(f"\nworld: {data_dir} ({n_activities:,} activity rows), as of {as_of}, median of {args.repeat} runs")
    print(f"{'step':<16}{'total s':>10}{'compute s':>11}{'peak MB':>10}")
    medians = {}
    for kind, runs in results.items():
        medians[kind] = {k: statistics.median(r[k] for r in runs) for k in ("total_s", "compute_s", "peak_mb")}
        m = medians[kind]
        print(f"{kind:<16}{m['total_s']:>10.2f}{m['compute_s']:>11.2f}{m['peak_mb']:>10.0f}")
    ref = medians["pandas_groupby"]
    feat = medians["features"]
    print(f"\nfeatures / pandas group-by (read + compute): {feat['total_s'] / ref['total_s']:.2f}x")
    print(f"features / duckdb group-by (read + compute): {feat['total_s'] / medians['duckdb_groupby']['total_s']:.2f}x")
    print(f"feature peak memory: {feat['peak_mb'] / 1024:.2f} GB")


if __name__ == "__main__":
    main()
