"""Benchmark: scaling out ``b2bscore features`` and ``b2bscore score`` (issue 17, item 5).

For each world size, every measurement is one ``b2bscore`` CLI run in a fresh child process, its process tree
(the Python driver, Spark's JVM, Spark's Python workers) sampled with psutil every 0.1 s, so that wall time and
peak memory are per run and per process:

* ``partition``: ``b2bscore partition WORLD --buckets B --out PART`` (once per world; the input of the bucketed
  engines; B = accounts / --accounts-per-bucket, so a bucket holds the same number of accounts at every size)
* ``features``: ``b2bscore features`` with ``--engine local`` (on WORLD: today's pandas path, the reference),
  ``--engine buckets`` (on PART) and ``--engine spark --master local[2]`` / ``local[1]`` (on PART)
* ``score``: ``b2bscore score --no-log`` with the same four engines, with champions trained once on a small world
  of the same generator (``--train-accounts``; the champions' features do not depend on the world's size)

Worlds, partitions and the trained home are cached under ``benchmarks/_work``. Results are appended to
``benchmarks/_work/scale/results.jsonl`` (one line per run), and the table of every run there is printed at the end,
with the growth ratios between the two sizes given and the Spark ``local[1]`` / ``local[2]`` speed-up.

Usage::

    python benchmarks/scale.py --accounts 100000 300000 --months 12
    python benchmarks/scale.py --accounts 30000 100000 --months 12 --only features   # a subset
    python benchmarks/scale.py --report                                                  # the table only
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

DONE = re.compile(r"\(100%, ([0-9.]+) s\)")

ROOT = Path(__file__).resolve().parent.parent
WORK = Path(__file__).resolve().parent / "_work"
SCALE = WORK / "scale"
RESULTS = SCALE / "results.jsonl"
CLI = [str(Path(sys.executable).parent / "b2bscore")]
SMALL_TRAIN = """\
conversion: {min_positives: 10}
propensity: {min_positives: 10}
churn: {min_positives: 10}
cltv: {min_rows: 50}
lightgbm: {max_rounds: 300, early_stopping_rounds: 30}
candidates: {confidence: 0.6}
"""
ENGINES = {
    "local": ["--engine", "local"],
    "buckets": ["--engine", "buckets"],
    "spark-local[2]": ["--engine", "spark", "--master", "local[2]"],
    "spark-local[1]": ["--engine", "spark", "--master", "local[1]"],
}


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def _role(proc: psutil.Process, root_pid: int) -> str:
    if proc.pid == root_pid:
        return "driver"
    try:
        name = proc.name()
    except psutil.Error:
        return "other"
    if name.startswith("java"):
        return "jvm"
    if name.startswith("python"):
        return "workers"
    return "other"


def measure(command: list[str], *, label: str, log: Path) -> dict:
    """Run ``command``; wall time, exit status, and the peak RSS (MB) of the tree and of each role in it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    peaks = {"tree": 0.0, "driver": 0.0, "jvm": 0.0, "workers": 0.0, "other": 0.0}
    max_workers = 0
    started = time.perf_counter()
    with log.open("w") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        root = psutil.Process(child.pid)
        done = threading.Event()

        def sample() -> None:
            nonlocal max_workers
            while not done.is_set():
                try:
                    procs = [root, *root.children(recursive=True)]
                except psutil.Error:
                    break
                now = {"driver": 0.0, "jvm": 0.0, "workers": 0.0, "other": 0.0}
                workers = 0
                for proc in procs:
                    try:
                        rss = proc.memory_info().rss / 2**20
                    except psutil.Error:
                        continue
                    role = _role(proc, child.pid)
                    now[role] += rss
                    workers += role == "workers"
                for role, value in now.items():
                    peaks[role] = max(peaks[role], value)
                peaks["tree"] = max(peaks["tree"], sum(now.values()))
                max_workers = max(max_workers, workers)
                done.wait(0.1)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        thread.join()
    wall = time.perf_counter() - started
    done_at = DONE.findall(log.read_text(errors="replace"))
    return {"in_command_s": float(done_at[-1]) if done_at else None, "label": label, "rc": child.returncode, "wall_s": round(wall, 2),
            "peak_mb": {k: round(v) for k, v in peaks.items()}, "max_python_workers": max_workers,
            "driver_maxrss_mb": round(usage.ru_maxrss / 1024), "command": " ".join(["b2bscore", *command[1:]]),
            "load_avg": os.getloadavg(), "log": str(log)}


def ensure_world(accounts: int, months: int, seed: int, world: Path | None = None) -> Path:
    world = world or WORK / f"world-{accounts}-{months}-{seed}"
    if not (world / "truth" / "world.json").exists():
        say(f"generating {world.name}")
        started = time.perf_counter()
        subprocess.run([*CLI, "generate", "--out", str(world), "--accounts", str(accounts), "--months", str(months),
                        "--seed", str(seed)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        say(f"generated {world.name} in {time.perf_counter() - started:.0f} s")
    return world


def ensure_home(accounts: int, months: int, seed: int) -> Path:
    home = SCALE / "home"  # one trained home: the champions every size is scored with
    if not (home / ".trained").exists():
        world = ensure_world(accounts, months, seed, SCALE / f"train-world-{accounts}")
        config = SCALE / "small-train.yaml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(SMALL_TRAIN)
        say(f"training champions on {world.name}")
        subprocess.run([*CLI, "train", "all", "--data", str(world), "--config", str(config), "--home", str(home)],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        (home / ".trained").write_text(f"{world.name} months={months} seed={seed}\n")
    return home


def record(result: dict, **keys) -> dict:
    result = {**keys, **result, "when": time.strftime("%Y-%m-%dT%H:%M:%S")}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a") as out:
        out.write(json.dumps(result) + "\n")
    peaks = result["peak_mb"]
    say(f"{keys.get('step')} {keys.get('engine')} {keys.get('accounts'):,}: {result['wall_s']:.1f} s, rc {result['rc']}, "
        f"peak MB tree {peaks['tree']} (driver {peaks['driver']}, jvm {peaks['jvm']}, workers {peaks['workers']})")
    return result


def run_size(accounts: int, args, home: Path | None) -> None:
    world = ensure_world(accounts, args.months, args.seed)
    end = json.loads((world / "truth" / "world.json").read_text())["end"]
    as_of = str(end)[:10]
    buckets = max(1, round(accounts / args.accounts_per_bucket))
    part = WORK / f"{world.name}-buckets-{buckets}"
    runs = SCALE / "runs" / world.name
    keys = {"accounts": accounts, "months": args.months, "seed": args.seed, "buckets": buckets}
    if not (part / "_buckets.json").exists():
        record(measure([*CLI, "partition", str(world), "--buckets", str(buckets), "--out", str(part)],
                       label="partition", log=runs / "partition.log"), step="partition", engine="-", **keys)
    for step in args.only:
        for engine in args.engines:
            source = world if engine == "local" else part
            out = runs / f"{step}-{engine}"
            if step == "features":
                command = [*CLI, "features", str(source), "--as-of", as_of, "--out", f"{out}.parquet"]
            else:
                command = [*CLI, "score", "--data", str(source), "--out", f"{out}.parquet", "--no-log",
                           "--home", str(home)]
            for _ in range(args.repeat):
                record(measure([*command, *ENGINES[engine]], label=f"{step}-{engine}", log=runs / f"{step}-{engine}.log"),
                       step=step, engine=engine, **keys)


def report() -> None:
    if not RESULTS.exists():
        print("no results yet")
        return
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    latest: dict[tuple, dict] = {}
    for row in rows:
        if row.get("in_command_s") is None and Path(row["log"]).exists():  # runs recorded before this field
            found = DONE.findall(Path(row["log"]).read_text(errors="replace"))
            row["in_command_s"] = float(found[-1]) if found else None
        latest[(row["step"], row["engine"], row["accounts"])] = row  # the latest run of each
    print(f"\n{'step':<10}{'engine':<16}{'accounts':>10}{'buckets':>8}{'wall s':>9}{'in cmd s':>9}{'tree MB':>9}{'driver':>8}"
          f"{'jvm':>7}{'workers':>8}{'rc':>4}")
    for (step, engine, accounts), row in sorted(latest.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        p = row["peak_mb"]
        print(f"{step:<10}{engine:<16}{accounts:>10,}{row['buckets']:>8}{row['wall_s']:>9.1f}{row['in_command_s'] or float('nan'):>9.1f}{p['tree']:>9}"
              f"{p['driver']:>8}{p['jvm']:>7}{p['workers']:>8}{row['rc']:>4}")
    sizes = sorted({a for _, _, a in latest})
    if len(sizes) >= 2:
        small, big = sizes[0], sizes[-1]
        print(f"\ngrowth {small:,} -> {big:,} accounts (x{big / small:.2f}); time linear: ratio / {big / small:.2f}")
        for step in ("partition", "features", "score"):
            for engine in ("-", *ENGINES):
                a, b = latest.get((step, engine, small)), latest.get((step, engine, big))
                if a and b and a["rc"] == 0 and b["rc"] == 0:
                    t = b["wall_s"] / a["wall_s"]
                    m = b["peak_mb"]["tree"] / max(a["peak_mb"]["tree"], 1)
                    d = b["peak_mb"]["driver"] / max(a["peak_mb"]["driver"], 1)
                    print(f"  {step:<10}{engine:<16} time x{t:.2f} (per account x{t / (big / small):.2f}), "
                          f"peak tree MB x{m:.2f}, driver x{d:.2f}")
    for step in ("features", "score"):
        for accounts in sizes:
            one, two = latest.get((step, "spark-local[1]", accounts)), latest.get((step, "spark-local[2]", accounts))
            if one and two and one["rc"] == 0 and two["rc"] == 0:
                print(f"  {step} {accounts:,}: spark local[1] / local[2] = x{one['wall_s'] / two['wall_s']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, nargs="+", default=[100_000, 300_000])
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--accounts-per-bucket", type=int, default=10_000)
    parser.add_argument("--train-accounts", type=int, default=2000)
    parser.add_argument("--train-months", type=int, default=24)
    parser.add_argument("--train-seed", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=("features", "score"), default=["features", "score"])
    parser.add_argument("--engines", nargs="+", choices=tuple(ENGINES), default=list(ENGINES))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--report", action="store_true", help="print the table of the recorded runs and exit")
    args = parser.parse_args()
    if not args.report:
        home = ensure_home(args.train_accounts, args.train_months, args.train_seed) if "score" in args.only else None
        for accounts in args.accounts:
            run_size(accounts, args, home)
    report()


if __name__ == "__main__":
    main()
