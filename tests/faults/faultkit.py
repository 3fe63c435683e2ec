"""Kill a real ``b2bscore`` process at a named point, then check what the next run finds.

Used by the fault-injection tests (``tests/faults``) and by ``benchmarks/reliability.py``; nothing in the library
knows about it. ``python tests/faults/faultkit.py POINT ARGS...`` runs the ``b2bscore`` command line with ARGS in
a fresh process after wrapping one function named by :data:`CRASH_POINTS`, so that the process sends itself
SIGKILL (no ``finally``, no ``atexit``: a power cut, the OOM killer) just before or just after the matching call.
:func:`kill_when` does the same from outside, without any wrapping: it polls for a file and kills the process when
the file appears.

Each scenario (:data:`SCENARIOS`) kills one or more runs of a command on a trained home, reruns the command in this
process (the CLI, through Typer's runner) and returns an :class:`Outcome`: whether every kill landed, and what the
rerun found wrong (``problems``; empty means the fault was survived) and how many rows it lost.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

FAULTKIT = Path(__file__).resolve()


@dataclass(frozen=True)
class CrashPoint:
    """``module``'s ``attribute`` (``Class.method`` allowed) kills the process ``when`` ("before" or "after") its
    ``call``-th call whose positional or keyword arguments include ``argument`` (any call when None)."""

    module: str
    attribute: str
    when: str = "before"
    call: int = 1
    argument: str | None = None

    def arm(self) -> None:
        owner = importlib.import_module(self.module)
        *path, name = self.attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        original = getattr(owner, name)
        seen = [0]

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            matches = self.argument is None or self.argument in (*args, *kwargs.values())
            if matches:
                seen[0] += 1
            fire = matches and seen[0] == self.call
            if fire and self.when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            result = original(*args, **kwargs)
            if fire:
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        setattr(owner, name, wrapper)


CRASH_POINTS: dict[str, CrashPoint] = {
    "score:second-account-chunk": CrashPoint("b2bscore.serving.batch", "score_account_rows", call=2),
    "score:online-store-second-view": CrashPoint("b2bscore.serving.online", "_SqliteRows.write", call=2),
    "features:before-parquet-footer": CrashPoint("pyarrow.parquet", "ParquetWriter.close"),
    "segment:staged-before-publish": CrashPoint("mlflow.tracking", "MlflowClient.log_artifacts"),
    "monitor:before-first-report": CrashPoint("b2bscore.monitoring.job", "load_reference"),
    "monitor:after-first-report": CrashPoint("evidently.core.report", "Snapshot.save_html", when="after"),
    "monitor:recording-the-run": CrashPoint("mlflow.tracking", "MlflowClient.log_artifacts"),
    "train:model-logged": CrashPoint("b2bscore.training.train", "log_scoring_model", when="after"),
    "train:version-created": CrashPoint("mlflow.tracking", "MlflowClient.create_model_version", when="after"),
    "train:before-challenger-alias": CrashPoint("mlflow.tracking", "MlflowClient.set_registered_model_alias",
                                                argument="challenger"),
    "train:champion-alias-moved": CrashPoint("mlflow.tracking", "MlflowClient.set_registered_model_alias",
                                             when="after", argument="champion"),
}


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "B2BSCORE_HOME")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def crash(point: str, *args: object, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``b2bscore ARGS`` in a new process that kills itself at ``point`` (one of :data:`CRASH_POINTS`)."""
    if point not in CRASH_POINTS:
        raise KeyError(f"unknown crash point {point!r}; known: {', '.join(CRASH_POINTS)}")
    return subprocess.run([sys.executable, str(FAULTKIT), point, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=_clean_env())


def crash_together(points: tuple[str, ...], *args: object, timeout: float = 300) -> list[tuple[int, str]]:
    """:func:`crash` at each of ``points`` in as many processes at once (independent kills, in the time of one);
    ``(exit status, stderr)`` of each."""
    unknown = [p for p in points if p not in CRASH_POINTS]
    if unknown:
        raise KeyError(f"unknown crash point(s) {unknown}; known: {', '.join(CRASH_POINTS)}")
    processes = [subprocess.Popen([sys.executable, str(FAULTKIT), point, *map(str, args)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True, env=_clean_env()) for point in points]
    errors = [process.communicate(timeout=timeout)[1] for process in processes]
    return [(process.returncode, error) for process, error in zip(processes, errors)]


def kill_when(appeared: Callable[[], bool], *args: object, timeout: float = 300, poll_s: float = 0.005) -> int:
    """Run ``b2bscore ARGS`` and SIGKILL it as soon as ``appeared()`` is true; the exit status (-9 when killed)."""
    exe = Path(sys.executable).parent / "b2bscore"
    process = subprocess.Popen([str(exe), *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=_clean_env(), start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if appeared():
                os.kill(process.pid, signal.SIGKILL)
                break
            time.sleep(poll_s)
        return process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@dataclass
class Outcome:
    """One scenario: ``kills`` injected, ``killed`` of them landed (SIGKILL at the point), what the rerun found."""

    scenario: str
    kills: int = 0
    killed: int = 0
    problems: list[str] = field(default_factory=list)
    rows_expected: int = 0
    rows_found: int = 0
    seconds: float = 0.0

    @property
    def rows_lost(self) -> int:
        return max(0, self.rows_expected - self.rows_found)

    @property
    def survived(self) -> bool:
        return self.killed == self.kills and not self.problems

    def expect(self, condition: bool, problem: str) -> None:
        if not condition:
            self.problems.append(problem)

    def record_kill(self, status: int, output: str = "") -> None:
        self.kills += 1
        if status == -signal.SIGKILL:
            self.killed += 1
        else:
            self.problems.append(f"the process was not killed at the fault point (exit {status}): {output[-600:]}")


def cli(*args: object):
    """``b2bscore ARGS`` in this process (Typer's runner): the rerun after a fault."""
    from typer.testing import CliRunner

    from b2bscore.cli import app

    return CliRunner().invoke(app, [str(a) for a in args])


def leftovers(home: Path, *also: Path) -> list[str]:
    """What a killed run may leave behind that a later run must have removed or settled: temporary files and folders
    under the home (and ``also``), empty run folders, MLflow runs still RUNNING, model versions whose registration
    never finished."""
    found = []
    for root in (home, *also):
        for path in Path(root).rglob("*"):
            if "mlartifacts" in path.parts:
                continue
            if ".partial" in path.name:
                found.append(f"temporary {path.relative_to(root)}")
            elif path.is_dir() and path.parent.name in ("runs", "dry-runs") and not any(path.iterdir()):
                found.append(f"empty run folder {path.relative_to(root)}")
    if (home / "mlflow.db").is_file():
        client = _client(home)
        experiments = [e.experiment_id for e in client.search_experiments()]
        for run in client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'"):
            found.append(f"MLflow run {run.info.run_id} ({run.info.run_name}) still RUNNING")
        for model in client.search_registered_models():
            for version in client.search_model_versions(f"name='{model.name}'"):
                if "decision" not in version.tags:
                    found.append(f"{model.name} v{version.version} has no decision")
                elif version.tags.get("b2bscore.registration") == "pending":
                    found.append(f"{model.name} v{version.version} is still pending")
    return found


def _client(home: Path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{home / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _rows(path: Path) -> int:
    import pandas as pd

    return len(pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path))


def _accounts(world: Path) -> int:
    import pandas as pd

    return len(pd.read_parquet(world / "accounts.parquet", columns=["account_id"]))


# -- scenarios -------------------------------------------------------------------------------------------------------

def score_killed_while_writing(world: Path, home: Path, work: Path) -> Outcome:
    """``b2bscore score`` killed (from outside, by polling) once the accounts file is being written; then rerun."""
    outcome = Outcome("score: killed while writing the accounts file, rerun")
    out = work / "crm"
    args = ("score", "--data", world, "--out", out / "scores.csv", "--home", home, "--chunk-size", 100)
    final = {"scores-leads.csv", "scores-accounts.csv"}

    def writing_accounts() -> bool:
        return out.is_dir() and any("accounts" in p.name and p.name not in final for p in out.iterdir())

    outcome.record_kill(kill_when(writing_accounts, *args))
    rerun = cli(*args)
    accounts = outcome.rows_expected = _accounts(world)
    outcome.expect(rerun.exit_code == 0, f"the rerun failed: {rerun.output[-600:]}")
    if rerun.exit_code == 0:
        path = out / "scores-accounts.csv"
        text = path.read_text().splitlines()
        outcome.rows_found = len(text) - 1
        outcome.expect(f"{accounts:,} accounts ->" in rerun.output, f"the rerun did not report {accounts:,} accounts")
        outcome.expect(len(text) - 1 == accounts, f"{path.name} holds {len(text) - 1:,} rows for {accounts:,} accounts")
        outcome.expect(text.count(text[0]) == 1, f"{path.name} holds {text.count(text[0])} headers")
        import pandas as pd

        outcome.expect(pd.read_csv(path)["account_id"].is_unique, f"{path.name} repeats account ids")
        leads = pd.read_csv(out / "scores-leads.csv")
        outcome.expect(leads["lead_id"].is_unique and f"{len(leads):,} open leads ->" in rerun.output,
                       "the leads file does not match the reported count")
    outcome.expect(sorted(p.name for p in out.iterdir()) == sorted(final),
                   f"the output folder holds {sorted(p.name for p in out.iterdir())}")
    outcome.problems += leftovers(home, out)
    return outcome


def score_crashed_after_a_chunk(world: Path, home: Path, work: Path) -> Outcome:
    """``b2bscore score`` to Parquet, killed after its first accounts chunk, over an earlier complete result."""
    outcome = Outcome("score: killed after a chunk over an earlier result, rerun")
    out = work / "crm"
    args = ("score", "--data", world, "--out", out / "scores.parquet", "--home", home, "--chunk-size", 100, "--no-log")
    first = cli(*args)
    outcome.expect(first.exit_code == 0, f"the first run failed: {first.output[-600:]}")
    before = (out / "scores-accounts.parquet").read_bytes() if first.exit_code == 0 else b""
    result = crash("score:second-account-chunk", *args)
    outcome.record_kill(result.returncode, result.stderr)
    accounts = outcome.rows_expected = _accounts(world)
    outcome.expect((out / "scores-accounts.parquet").read_bytes() == before,
                   "the killed run changed the earlier accounts file")
    rerun = cli(*args)
    outcome.expect(rerun.exit_code == 0, f"the rerun failed: {rerun.output[-600:]}")
    if rerun.exit_code == 0:
        outcome.rows_found = _rows(out / "scores-accounts.parquet")
        outcome.expect(outcome.rows_found == accounts, f"{outcome.rows_found:,} rows for {accounts:,} accounts")
    outcome.problems += leftovers(home, out)
    return outcome


def features_killed_while_writing(world: Path, home: Path, work: Path) -> Outcome:
    """``b2bscore features --out x.parquet`` killed before the Parquet footer is written; then rerun."""
    outcome = Outcome("features: killed before the Parquet footer, rerun")
    out = work / "features"
    args = ("features", world, "--as-of", "2025-06-01", "--out", out / "accounts.parquet")
    result = crash("features:before-parquet-footer", *args)
    outcome.record_kill(result.returncode, result.stderr)
    outcome.expect(not (out / "accounts.parquet").exists(), "the killed run left a truncated accounts.parquet")
    rerun = cli(*args)
    outcome.rows_expected = _accounts(world)
    outcome.expect(rerun.exit_code == 0, f"the rerun failed: {rerun.output[-600:]}")
    if rerun.exit_code == 0:
        outcome.rows_found = _rows(out / "accounts.parquet")
    outcome.expect(outcome.rows_found == outcome.rows_expected, f"{outcome.rows_found:,} feature rows")
    outcome.expect([p.name for p in out.iterdir()] == ["accounts.parquet"],
                   f"the output folder holds {sorted(p.name for p in out.iterdir())}")
    return outcome


def segment_killed_before_publishing(world: Path, home: Path, work: Path) -> Outcome:
    """``b2bscore segment`` killed with every file of the version staged, before it is published; then rerun."""
    outcome = Outcome("segment: killed with the version staged, rerun")
    args = ("segment", "--data", world, "--home", home)
    result = crash("segment:staged-before-publish", *args)
    outcome.record_kill(result.returncode, result.stderr)
    rerun = cli(*args)
    outcome.expect(rerun.exit_code == 0, f"the rerun failed: {rerun.output[-600:]}")
    segments = home / "segments"
    versions = [p for p in segments.iterdir() if (p / "manifest.json").is_file()] if segments.is_dir() else []
    outcome.expect(len(versions) == 1, f"{len(versions)} complete versions after the rerun")
    outcome.rows_expected = _accounts(world)
    if versions:
        outcome.rows_found = _rows(versions[0] / "assignments.parquet")
    outcome.expect(outcome.rows_found == outcome.rows_expected, f"{outcome.rows_found:,} accounts assigned")
    if segments.is_dir():
        outcome.expect(sorted(p.name for p in segments.iterdir()) == [p.name for p in versions],
                       f"the segments folder holds {sorted(p.name for p in segments.iterdir())}")
    outcome.problems += leftovers(home)
    return outcome


def monitor_killed_three_times(world: Path, home: Path, work: Path) -> Outcome:
    """``b2bscore monitor`` killed before its first report, after it, and while recording its run; then rerun."""
    outcome = Outcome("monitor: killed before, during and after the reports, rerun")
    config = work / "monitor.yaml"
    config.write_text("tasks: [churn]\nsegments: {columns: [industry, region]}\n")  # churn has no lead_source
    args = ("monitor", "--data", world, "--home", home, "--config", config)
    for status, stderr in crash_together(("monitor:before-first-report", "monitor:after-first-report"), *args):
        outcome.record_kill(status, stderr)  # two checks killed while they run side by side, then one while recording
    result = crash("monitor:recording-the-run", *args)
    outcome.record_kill(result.returncode, result.stderr)
    runs = home / "monitoring" / "runs"
    complete_before = [p for p in runs.iterdir() if (p / "summary.json").is_file()] if runs.is_dir() else []
    rerun = cli(*args)
    outcome.expect(rerun.exit_code in (0, 1), f"the rerun failed: {rerun.output[-600:]}")
    folders = sorted(runs.iterdir()) if runs.is_dir() else []
    complete = [p for p in folders if {"summary.json", "summary.html", "churn-drift.html"} <= {f.name for f in p.iterdir()}]
    outcome.expect(len(complete) == len(complete_before) + 1, "the rerun did not add one complete run folder")
    outcome.expect(folders == complete, f"incomplete run folders: {[p.name for p in folders if p not in complete]}")
    outcome.problems += leftovers(home)
    return outcome


def _train_config(work: Path) -> Path:
    config = work / "train.yaml"
    config.write_text("churn: {min_positives: 10}\nlightgbm: {max_rounds: 100, early_stopping_rounds: 20}\n"
                      "candidates: {confidence: 0.6}\n")
    return config


def _registry_view(home: Path) -> dict[str, object]:
    """What a user sees of the churn model: the service's champion and ``b2bscore models list``."""
    from b2bscore.home import ProjectHome
    from b2bscore.model.champions import load_champion
    from b2bscore.model.tracking import activate, resolve_tracking

    champion = load_champion(activate(resolve_tracking(ProjectHome(home))), "churn")
    listed = cli("models", "list", "--home", home)
    row = next((line for line in listed.output.splitlines() if "b2bscore-churn" in line and "│" in line), "")
    cells = [c.strip() for c in row.split("│")[1:-1]]
    return {"service": champion.version if champion else None, "list": cells[1:3] if cells else None,
            "exit": listed.exit_code}


def train_killed_while_registering(point: str, *, wins: bool = False):
    """``b2bscore train churn`` killed at ``point`` of its registration, on a home whose churn champion is v1 (made to
    lose when ``wins``); the champion a service loads and ``models list`` must not change, the leftover must be
    settled, and a rerun registers normally."""

    def scenario(world: Path, home: Path, work: Path) -> Outcome:
        outcome = Outcome(f"train: killed at {point.removeprefix('train:')}, models list, rerun")
        client = _client(home)
        if wins:  # the next version beats v1 on the same test set, so it is promoted
            client.set_model_version_tag("b2bscore-churn", "1", "test_roc_auc", "0.0")
        before = _registry_view(home)
        args = ("train", "churn", "--data", world, "--home", home, "--config", _train_config(work))
        result = crash(point, *args)
        outcome.record_kill(result.returncode, result.stderr)
        after = _registry_view(home)
        outcome.expect(after == before, f"what a user sees changed: {before} -> {after}")
        outcome.problems += leftovers(home)
        version = client.get_model_version("b2bscore-churn", "2") if point != "train:model-logged" else None
        if version is not None:
            outcome.expect(version.tags.get("b2bscore.registration") == "abandoned", "v2 is not marked abandoned")
            promoted = cli("models", "promote", "b2bscore-churn", "2", "--home", home)
            outcome.expect(promoted.exit_code == 2 and "abandoned" in promoted.output,
                           f"promoting the abandoned v2: {promoted.output[-300:]}")
        rerun = cli(*args)
        outcome.expect(rerun.exit_code == 0, f"the rerun failed: {rerun.output[-600:]}")
        new = "3" if version is not None else "2"
        outcome.expect(f"b2bscore-churn v{new}:" in rerun.output, f"the rerun did not register v{new}")
        if wins and rerun.exit_code == 0:
            rolled = cli("models", "rollback", "b2bscore-churn", "--home", home)
            outcome.expect("to version 1" in rolled.output, f"rollback after the rerun: {rolled.output[-300:]}")
        outcome.problems += leftovers(home)
        return outcome

    return scenario


SCENARIOS: dict[str, Callable[[Path, Path, Path], Outcome]] = {
    "score-poll": score_killed_while_writing,
    "score-chunk": score_crashed_after_a_chunk,
    "features": features_killed_while_writing,
    "segment": segment_killed_before_publishing,
    "monitor": monitor_killed_three_times,
    "train-model-logged": train_killed_while_registering("train:model-logged"),
    "train-version-created": train_killed_while_registering("train:version-created"),
    "train-before-challenger": train_killed_while_registering("train:before-challenger-alias"),
    "train-champion-moved": train_killed_while_registering("train:champion-alias-moved", wins=True),
}
"""Every fault scenario, by name: ``scenario(world, trained_home, work_dir) -> Outcome``; the home is changed."""


def main(argv: list[str]) -> None:
    """``faultkit.py POINT ARGS...``: arm POINT, then run ``b2bscore ARGS`` here."""
    point, args = argv[0], argv[1:]
    CRASH_POINTS[point].arm()
    from b2bscore.cli import main as b2bscore

    sys.argv = ["b2bscore", *args]
    b2bscore()


if __name__ == "__main__":
    main(sys.argv[1:])
