"""Reliability: bad requests against a real service, and kill -9 faults against real commands (issue 13).

Builds its own small trained home (a generated world, the three models trained with small minimums, as the
tests' ``trained_world``), then

1. starts ``b2bscore serve`` on 127.0.0.1 with an API key and sends every request of the bad-request catalogue
   (``tests/faults/badrequests.py``): how many got the 4xx they should, how many a 5xx or no answer, and whether
   the server's log holds a traceback or any refused value;
2. runs every fault scenario of ``tests/faults/faultkit.py`` (kill -9 of ``score``, ``features``, ``segment``,
   ``monitor`` and ``train`` at named points, then a rerun) on a fresh copy of the home: faults injected, kills that
   landed, scenarios survived (the rerun found clean files, right counts, a settled registry), rows lost.

Usage::

    python benchmarks/reliability.py                       # 500 accounts, seed 5, every scenario, 100 fuzz cases
    python benchmarks/reliability.py --only score-poll --only monitor --skip-requests
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "faults"), str(ROOT / "tests")]

from badrequests import CATALOGUE, probe, secrets  # noqa: E402
from conftest import free_port, stop_process_group, wait_until_answering  # noqa: E402
from faultkit import SCENARIOS  # noqa: E402

KEY = "reliability-benchmark-key"
SMALL_TRAIN = {"conversion": {"min_positives": 10}, "propensity": {"min_positives": 10}, "churn": {"min_positives": 10}, "cltv": {"min_rows": 50},
               "lightgbm": {"max_rounds": 300, "early_stopping_rounds": 30}, "candidates": {"confidence": 0.6}}


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def trained_home(work: Path, accounts: int, seed: int) -> tuple[Path, Path]:
    """(world, home): a generated world and a home whose three champions were trained on it."""
    from b2bscore.home import ProjectHome
    from b2bscore.synth import WorldConfig, generate_world
    from b2bscore.training.config import TrainConfig
    from b2bscore.training.job import train_tasks

    world, home = work / "world", work / "home"
    generate_world(WorldConfig(accounts=accounts, seed=seed, months=36), world)
    train_tasks("all", world, config=TrainConfig.model_validate(SMALL_TRAIN), home=ProjectHome(home))
    return world, home


def copy_home(source: Path, target: Path) -> Path:
    """A copy of a home that a scenario may change; the artifacts stay shared (read-only to the scenarios)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("mlartifacts"))
    (target / "mlartifacts").symlink_to(source / "mlartifacts")
    return target


def fuzz(url: str, examples: int) -> dict[str, int]:
    """schemathesis: ``examples`` requests per scoring operation and generation mode (positive: valid by the spec,
    negative: violating it), sent with the key; how many got 2xx, 4xx, 5xx or no answer."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    counts = {"generated": 0, "2xx": 0, "4xx": 0, "5xx or no answer": 0}
    schema = schemathesis.openapi.from_url(f"{url}/docs.json")
    posts = [r.ok() for r in schema.get_all_operations() if r.ok().method.upper() == "POST"]
    for operation in posts:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            def send(case):
                counts["generated"] += 1
                try:
                    status = case.call(headers={"Authorization": f"Bearer {KEY}"}, timeout=60).status_code
                except Exception:  # noqa: BLE001 - a connection reset is what this counts
                    status = 599
                bucket = "2xx" if status < 300 else "4xx" if 400 <= status < 500 else "5xx or no answer"
                counts[bucket] += 1

            send()
    return counts


def bad_requests(home: Path, examples: int) -> dict[str, object]:
    """Start the service on ``home``, send the catalogue and ``examples`` schemathesis cases per operation and mode,
    stop it; counts and the log's findings."""
    config = home / "serve-bench.yaml"
    config.write_text(yaml.safe_dump({"refresh_seconds": 5, "max_batch": 5}))
    port = free_port()
    env = {**os.environ, "B2BSCORE_API_KEY": KEY}
    env.pop("MLFLOW_TRACKING_URI", None)
    log_path = home / "serve.log"
    url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        process = subprocess.Popen([str(Path(sys.executable).parent / "b2bscore"), "serve", "--port", str(port),
                                    "--home", str(home), "--config", str(config)], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            try:
                wait_until_answering(url, process, log_path)
            except RuntimeError as exc:
                raise SystemExit(str(exc)) from None
            results = probe(url, KEY)
            fuzzed = fuzz(url, examples)
        finally:
            stop_process_group(process)
    text = log_path.read_text()
    return {
        "tried": len(results),
        "4xx as expected": sum(r.ok for r in results),
        "5xx or no answer": sum(r.status is None or r.status >= 500 for r in results),
        "other": [f"{r.name}: {r.status}" for r in results if not r.ok],
        "tracebacks in the log": text.count("Traceback"),
        "refused values in the log": sorted(s for s in secrets() if s in text),
        "fuzzed": fuzzed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), help="run only these fault scenarios")
    parser.add_argument("--fuzz-examples", type=int, default=100,
                        help="schemathesis cases per scoring operation and generation mode")
    parser.add_argument("--skip-requests", action="store_true", help="leave out the bad-request probe")
    parser.add_argument("--skip-faults", action="store_true", help="leave out the kill -9 scenarios")
    args = parser.parse_args()
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "B2BSCORE_HOME"):
        os.environ.pop(name, None)

    with tempfile.TemporaryDirectory(prefix="b2bscore-reliability-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        say(f"training a home on {args.accounts:,} accounts (seed {args.seed})")
        world, home = trained_home(work, args.accounts, args.seed)
        say(f"trained in {time.perf_counter() - started:.0f} s")
        if not args.skip_requests:
            say(f"sending {len(CATALOGUE)} bad requests to a real service")
            found = bad_requests(copy_home(home, work / "serve-home"), args.fuzz_examples)
            print("\n| bad requests tried | answered with the expected 4xx | 5xx or no answer | tracebacks in the "
                  "log | refused values in the log |\n|---:|---:|---:|---:|---:|")
            print(f"| {found['tried']} | {found['4xx as expected']} | {found['5xx or no answer']} | "
                  f"{found['tracebacks in the log']} | {len(found['refused values in the log'])} |\n")
            for line in found["other"]:
                print(f"  not as expected: {line}")
            fuzzed = found["fuzzed"]
            print("| schemathesis requests (positive and negative) | 2xx | 4xx | 5xx or no answer |\n|---:|---:|---:|---:|")
            print(f"| {fuzzed['generated']} | {fuzzed['2xx']} | {fuzzed['4xx']} | {fuzzed['5xx or no answer']} |\n")
        if not args.skip_faults:
            rows = []
            for name in args.only or list(SCENARIOS):
                scenario_work = work / f"fault-{name}"
                scenario_work.mkdir()
                target = copy_home(home, scenario_work / "home")
                say(f"fault scenario {name}")
                began = time.perf_counter()
                outcome = SCENARIOS[name](world, target, scenario_work)
                outcome.seconds = time.perf_counter() - began
                rows.append((name, outcome))
                say(f"  {outcome.killed}/{outcome.kills} kills landed, survived: {outcome.survived}, rows lost "
                    f"{outcome.rows_lost} ({outcome.seconds:.0f} s)")
                for problem in outcome.problems:
                    say(f"  problem: {problem}")
            print("\n| scenario | faults injected | kills landed | survived | rows expected | rows found | rows lost "
                  "| seconds |\n|---|---:|---:|:---:|---:|---:|---:|---:|")
            for name, o in rows:
                print(f"| {o.scenario} | {o.kills} | {o.killed} | {'yes' if o.survived else 'NO'} | {o.rows_expected:,} "
                      f"| {o.rows_found:,} | {o.rows_lost} | {o.seconds:.0f} |")
            total = sum(o.kills for _, o in rows)
            survived = sum(o.kills for _, o in rows if o.survived)
            lost = sum(o.rows_lost for _, o in rows)
            print(f"\n{total} faults injected in {len(rows)} scenarios; {survived} survived; {lost} rows lost")
        say(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
