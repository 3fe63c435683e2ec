"""Benchmark: the monitoring check on 100k reference and 100k current rows x 60 features, beside the Evidently
report alone on the same frames (the difference is our overhead).

Each measurement runs in a fresh child process so that its peak memory (max RSS) is its own; ``imports`` is
the baseline of a child that only imports the libraries. The frames are synthetic and seeded: 45 numeric
features (normal, log-normal, counts, zero-inflated), 15 categorical ones (among them industry, region and
size_band, the segment columns, and tier), a calibrated score and a 0/1 outcome; a fifth of the current rows
carry a known outcome. The current rows drift in one industry.

* ``evidently``: Evidently's stat tests on the whole population, column by column through its registry (the
  configured Wasserstein / KS / Jensen-Shannon / chi-square), and its drift report (data drift preset on the 60
  features + the score), run and saved as HTML
* ``check``: what ``b2bscore monitor`` does with the same frames: the per-segment judgement (the whole population,
  8 industries, 4 regions, 5 size bands, 4 tiers), the same Evidently drift report, Evidently's classification
  report on the rows with a known outcome, and the summary JSON and HTML

Usage::

    python benchmarks/monitoring_speed.py --rows 100000 --features 60 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path


def _frames(rows: int, features: int, seed: int = 0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n_cat = max(4, features // 4)
    n_num = features - n_cat

    def make(n: int, drift: bool):
        industry = rng.choice(["software", "financial_services", "manufacturing", "healthcare", "retail",
                               "professional_services", "education", "logistics"], n)
        frame = {"industry": industry, "region": rng.choice(["north_america", "emea", "apac", "latin_america"], n),
                 "size_band": rng.choice(["1_49", "50_199", "200_999", "1000_4999", "5000_plus"], n),
                 "tier": rng.choice(["Tier 1", "Tier 2", "Tier 3", "Tier 4"], n, p=[.1, .2, .3, .4])}
        for i in range(n_cat - 4):
            frame[f"cat_{i}"] = rng.choice([f"v{j}" for j in range(2 + i % 6)], n)
        shift = np.where(drift & (industry == "healthcare"), 1.0, 0.0)
        for i in range(n_num):
            kind = i % 4
            if kind == 0:
                values = rng.normal(shift, 1, n)
            elif kind == 1:
                values = rng.lognormal(3 + shift, 1, n)
            elif kind == 2:
                values = rng.poisson(2 + 3 * shift, n).astype(float)
            else:
                values = np.where(rng.random(n) < 0.6, 0.0, rng.exponential(10, n))
            frame[f"num_{i}"] = values
        out = pd.DataFrame(frame)
        logit = -2 + 0.8 * out["num_0"] + 0.3 * np.log1p(out["num_1"]) - 0.2 * out["num_2"] / 3
        out["prediction"] = 1 / (1 + np.exp(-logit))
        out["label"] = (rng.random(n) < out["prediction"] * np.where(shift > 0, 1.8, 1.0)).astype(float)
        return out

    reference, current = make(rows, False), make(rows, True)
    matured = current.sample(rows // 5, random_state=seed).reset_index(drop=True)
    numeric = tuple(f"num_{i}" for i in range(n_num))
    categorical = ("industry", "region", "size_band", "tier", *(f"cat_{i}" for i in range(n_cat - 4)))
    return reference, current, matured, numeric, categorical


def _child(kind: str, rows: int, features: int) -> dict:
    warnings.filterwarnings("ignore")
    import numpy as np
    import pandas as pd

    np.seterr(all="ignore")
    from b2bscore.monitoring.config import MonitorConfig
    from b2bscore.monitoring.drift import FeatureSchema, check_drift
    from b2bscore.monitoring.report import drift_report, performance_report, write_summary
    from b2bscore.monitoring.result import MonitorResult, TaskCheck

    reference, current, matured, numeric, categorical = _frames(rows, features)
    schema = FeatureSchema(numeric=numeric, categorical=tuple(c for c in categorical if c != "tier"), key=("num_0", "num_1"))
    config = MonitorConfig(segments={"columns": ("industry", "region", "size_band", "tier")})
    segments = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        if kind == "evidently":
            # the reference: Evidently's own stat tests, called column by column on the whole population (as the check
            # did before it prepared each column once), then its report
            import b2bscore.monitoring.drift as drift_module

            drift_module.supported = lambda _config: False
            overall = check_drift(reference, current, matured, kind="classification", schema=schema,
                                  config=config.model_copy(update={"segments": config.segments.model_copy(
                                      update={"columns": ()})}))[0][0]
            drift_report(reference, current, overall=overall, config=config).save_html(str(Path(folder) / "drift.html"))
        elif kind == "check":
            results, notes = check_drift(reference, current, matured, kind="classification", schema=schema, config=config)
            segments = len(results)
            judged = time.perf_counter()
            drift_report(reference, current, overall=results[0], config=config).save_html(str(Path(folder) / "drift.html"))
            performance_report(reference, matured, kind="classification").save_html(str(Path(folder) / "performance.html"))
            check = TaskCheck("conversion", "classification", "bench", "1", None, "data", None, pd.Timestamp("2026-01-01"),
                              schema.key, results, notes=notes)
            result = MonitorResult(pd.Timestamp("2026-01-01"), pd.Timestamp("2026-01-01"), config, (check,))
            write_summary(result, Path(folder))
        elif kind != "imports":
            raise SystemExit(f"unknown benchmark kind {kind!r}")
    finished = time.perf_counter()
    out = {"kind": kind, "total_s": finished - started, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "segments": segments}
    if kind == "check":
        out["judgement_s"] = judged - started
    return out


def _measure(kind: str, rows: int, features: int) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", kind, "--rows", str(rows), "--features", str(features)],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="reference rows (and as many current rows)")
    parser.add_argument("--features", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.rows, args.features)))
        return
    runs: dict[str, list[dict]] = {"imports": [], "evidently": [], "check": []}
    for _ in range(args.repeat):
        for kind in runs:
            runs[kind].append(_measure(kind, args.rows, args.features))
            print(json.dumps(runs[kind][-1]), flush=True)
    median = {k: statistics.median(r["total_s"] for r in v) for k, v in runs.items()}
    peak = {k: max(r["peak_mb"] for r in v) for k, v in runs.items()}
    print(f"\n{args.rows:,} reference + {args.rows:,} current rows x {args.features} features, median of {args.repeat}:")
    print("| step | s | peak MB |\n|---|---:|---:|")
    for kind in runs:
        print(f"| {kind} | {median[kind]:.1f} | {peak[kind]:,.0f} |")
    judgement = statistics.median(r["judgement_s"] for r in runs["check"])
    print(f"per-segment judgement ({runs['check'][0]['segments']} segments): {judgement:.1f} s; "
          f"check / Evidently report alone: {median['check'] / median['evidently']:.2f}x")


if __name__ == "__main__":
    main()
