#!/usr/bin/env python3
"""Plant known faults in a copy of the code and check that the tests meant to catch each one fail.

usage: python scripts/planted_faults.py [--only NAME ...] [--list] [--jobs N] [--timeout SECONDS] [--json FILE]

The faults are declared in ``scripts/planted_faults.toml``: for each, a file, an exact piece of its text (found
exactly once), what replaces it, and the tests that must fail. For every fault the working tree (tracked and
untracked, not ignored, files) is copied to a temporary folder, the fault applied, and only its tests are run
against the copy (``PYTHONPATH`` points at the copy's ``src``). A fault is

- ``caught`` when its tests fail (pytest exit code 1),
- ``MISSED`` when they pass,
- ``STALE`` when its text is no longer found once in the file (the code moved: update the catalogue),
- ``ERROR`` when pytest could not run them (collection error, timeout...).

Before the faults, each distinct set of tests is run once on the unchanged copy: a set that fails there would
make every fault look caught, so the check stops. Exit status 0 when every fault is caught, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "scripts" / "planted_faults.toml"


@dataclass(frozen=True)
class Fault:
    name: str
    why: str
    file: str
    find: str
    replace: str
    tests: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    fault: str
    result: str  # caught | MISSED | STALE | ERROR | passes | FAILS (for the unchanged baseline)
    seconds: float
    detail: str = ""


def load_faults(path: Path = CATALOGUE) -> list[Fault]:
    entries = tomllib.loads(path.read_text(encoding="utf-8")).get("fault", [])
    faults = []
    for i, entry in enumerate(entries):
        missing = {"name", "why", "file", "find", "replace", "tests"} - set(entry)
        if missing:
            raise SystemExit(f"{path.name}: fault #{i + 1} ({entry.get('name', '?')}) lacks {', '.join(sorted(missing))}")
        faults.append(Fault(entry["name"], entry["why"], entry["file"], entry["find"], entry["replace"],
                            tuple(entry["tests"])))
    names = [f.name for f in faults]
    if len(set(names)) != len(names):
        raise SystemExit(f"{path.name}: fault names must be unique")
    return faults


def _tree_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            check=True, capture_output=True).stdout.decode().split("\0")
    return [name for name in listed if name and (ROOT / name).is_file()]


def _copy_tree(files: list[str], target: Path) -> None:
    for name in files:
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(ROOT / name, destination)
        except FileNotFoundError:  # removed since it was listed (e.g. an editor's scratch file): not part of the tree
            continue


def _pytest(copy: Path, tests: tuple[str, ...], timeout: float) -> tuple[int | None, str]:
    env = {**os.environ, "PYTHONPATH": str(copy / "src"), "PYTHONDONTWRITEBYTECODE": "1", "HYPOTHESIS_PROFILE": "planted-faults"}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header", *tests]
    try:
        done = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s"
    lines = (done.stdout + done.stderr).strip().splitlines()
    failed = [line for line in lines if line.startswith(("FAILED", "ERROR"))]
    return done.returncode, (failed[0] if failed else (lines[-1] if lines else ""))[:300]


def _check_imports_the_copy(copy: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(copy / "src")}
    where = subprocess.run([sys.executable, "-c", "import b2bscore; print(b2bscore.__file__)"], cwd=copy, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    if not Path(where).resolve().is_relative_to(copy.resolve()):
        raise SystemExit(f"the copy's b2bscore is not the one imported ({where}): cannot plant faults")


def run_baseline(files: list[str], tests: tuple[str, ...], timeout: float) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="b2bscore-unchanged-") as folder:
        copy = Path(folder)
        _copy_tree(files, copy)
        _check_imports_the_copy(copy)
        start = time.monotonic()
        code, detail = _pytest(copy, tests, timeout)
    return Outcome(" ".join(tests), "passes" if code == 0 else "FAILS", time.monotonic() - start, "" if code == 0 else detail)


def run_fault(fault: Fault, files: list[str], timeout: float) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="b2bscore-fault-") as folder:
        copy = Path(folder)
        _copy_tree(files, copy)
        target = copy / fault.file
        if not target.is_file():
            return Outcome(fault.name, "STALE", 0.0, f"{fault.file} does not exist")
        text = target.read_text(encoding="utf-8")
        found = text.count(fault.find)
        if found != 1:
            return Outcome(fault.name, "STALE", 0.0, f"its text is found {found} times in {fault.file}, not once")
        target.write_text(text.replace(fault.find, fault.replace), encoding="utf-8")
        start = time.monotonic()
        code, detail = _pytest(copy, fault.tests, timeout)
    result = {0: "MISSED", 1: "caught"}.get(code, "ERROR")
    return Outcome(fault.name, result, time.monotonic() - start, detail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", default=None, help="run only the faults with these names")
    parser.add_argument("--list", action="store_true", help="list the faults and exit")
    parser.add_argument("--jobs", type=int, default=1, help="faults checked at once (default 1)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per pytest run (default 600)")
    parser.add_argument("--json", type=Path, help="also write the outcomes to this JSON file")
    parser.add_argument("--no-baseline", action="store_true", help="skip the run of each test set on unchanged code")
    args = parser.parse_args(argv)

    faults = load_faults()
    if args.only:
        unknown = set(args.only) - {f.name for f in faults}
        if unknown:
            raise SystemExit(f"unknown fault(s): {', '.join(sorted(unknown))}; known: {', '.join(f.name for f in faults)}")
        faults = [f for f in faults if f.name in args.only]
    if args.list:
        for fault in faults:
            print(f"{fault.name}: {fault.why}\n    {fault.file}; tests: {' '.join(fault.tests)}")
        return 0

    files = _tree_files()
    started = time.monotonic()
    if not args.no_baseline:
        sets = list(dict.fromkeys(f.tests for f in faults))
        print(f"unchanged code: running {len(sets)} test set(s) that must pass", flush=True)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            baselines = list(pool.map(lambda tests: run_baseline(files, tests, args.timeout), sets))
        broken = [b for b in baselines if b.result != "passes"]
        for b in broken:
            print(f"  FAILS on unchanged code: {b.fault}: {b.detail}", flush=True)
        if broken:
            return 1

    print(f"planting {len(faults)} fault(s)", flush=True)

    def one(fault: Fault) -> Outcome:
        outcome = run_fault(fault, files, args.timeout)
        print(f"  {outcome.result:<7} {outcome.fault} ({outcome.seconds:.0f} s){'  ' + outcome.detail if outcome.result != 'caught' else ''}",
              flush=True)
        return outcome

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        outcomes = list(pool.map(one, faults))
    caught = sum(o.result == "caught" for o in outcomes)
    print(f"{caught} of {len(outcomes)} planted faults caught in {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ for o in outcomes], indent=1), encoding="utf-8")
    return 0 if caught == len(outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
