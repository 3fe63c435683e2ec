"""The ``b2bscore`` command line: a thin Typer layer over the library functions."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from b2bscore.config_io import format_validation_error
from b2bscore.errors import B2BScoreError

app = typer.Typer(
    name="b2bscore",
    help="Predictive scoring for B2B sales and marketing: data, features, models, segments, serving, monitoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)


def _friendly_errors(command: Callable) -> Callable:
    """Turn b2bscore's own errors into one clear message and a non-zero exit, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except B2BScoreError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except ValidationError as exc:
            err.print(f"[bold red]error:[/] {format_validation_error(exc, source='options')}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


@contextmanager
def _progress(title: str) -> Iterator[Callable[[str, float], None]]:
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task(title, total=1.0)

        def update(step: str, fraction: float) -> None:
            bar.update(task, description=f"{title}: {step}", completed=fraction)

        yield update


class FileFormat(str, Enum):
    parquet = "parquet"
    csv = "csv"


class EntityKind(str, Enum):
    account = "account"
    lead = "lead"


ExistingDir = Annotated[Path, typer.Argument(help="Data directory: one CSV or Parquet file per table.")]
MappingOption = Annotated[Optional[Path], typer.Option("--mapping", help="Mapping file (YAML/TOML): column renames, value maps, date formats.")]


def _load_mapping(path: Path | None):
    from b2bscore.data.mapping import load_mapping

    return None if path is None else load_mapping(path)


@app.command()
@_friendly_errors
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the world's tables (and truth/) into.")],
    accounts: Annotated[int, typer.Option(help="Number of companies.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes byte-identical files.")] = 42,
    start: Annotated[Optional[datetime], typer.Option(formats=["%Y-%m-%d"], help="First day of the simulated period.")] = None,
    months: Annotated[int, typer.Option(help="Length of the simulated period in months.")] = 24,
    drift: Annotated[Optional[str], typer.Option(help="Change the world from a date on: industry_mix, channel_shift, intent_decay or price_change.")] = None,
    file_format: Annotated[FileFormat, typer.Option("--format", help="File format of the tables.")] = FileFormat.parquet,
) -> None:
    """Write a synthetic B2B world with a known generating process (truth in OUT/truth/)."""
    from b2bscore.synth import WorldConfig, generate_world

    options = {"accounts": accounts, "seed": seed, "months": months, "drift": drift, "file_format": file_format.value}
    if start is not None:
        options["start"] = start.date()
    config = WorldConfig(**options)
    with _progress("generate") as progress:
        summary = generate_world(config, out_dir, progress=progress)
    table = Table(title=f"World written to {summary.out_dir}", show_header=True)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in summary.row_counts.items():
        table.add_row(name, f"{count:,}")
    out.print(table)
    out.print(f"period {summary.start} to {summary.end}" + (f"; drift: {drift}" if drift else ""))


@app.command()
@_friendly_errors
def validate(
    data_dir: ExistingDir,
    mapping: MappingOption = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the report as JSON to this file.")] = None,
) -> None:
    """Check every table against the data contract; exit 0 only when the data is usable."""
    from b2bscore.data.load import validate_data

    report = validate_data(data_dir, _load_mapping(mapping))
    out.print(report.render(), highlight=False, soft_wrap=True)
    if json_out is not None:
        json_out.write_text(json.dumps(report.to_dict(), indent=2, default=str))
    if not report.ok:
        raise typer.Exit(1)


@app.command()
@_friendly_errors
def features(
    data_dir: ExistingDir,
    as_of: Annotated[datetime, typer.Option("--as-of", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"], help="Features use only data strictly before this time.")],
    out_file: Annotated[Path, typer.Option("--out", help="Output file, .parquet or .csv.")],
    entity: Annotated[EntityKind, typer.Option(help="One row per account, or per lead created by the as-of time.")] = EntityKind.account,
    mapping: MappingOption = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="Feature configuration (YAML/TOML), e.g. your ICP.")] = None,
) -> None:
    """Build point-in-time features for every account (or lead) as of a date."""
    import pandas as pd

    from b2bscore.data.load import load_dataset
    from b2bscore.features import build_features, load_feature_config
    from b2bscore.io import write_table

    feature_config = load_feature_config(config)
    with _progress("features") as progress:
        progress("load", 0.1)
        dataset, report = load_dataset(data_dir, _load_mapping(mapping))
        progress("build", 0.5)
        frame = build_features(dataset, as_of=pd.Timestamp(as_of), entity=entity.value, config=feature_config)
        progress("write", 0.9)
        write_table(frame, out_file)
    for issue in report.issues:
        if issue.severity == "warning":
            err.print(f"warning: {issue.message}", highlight=False, soft_wrap=True)
    out.print(f"{len(frame):,} {entity.value}s x {frame.shape[1] - 2} features as of {as_of:%Y-%m-%d %H:%M:%S} -> {out_file}")


@app.command()
@_friendly_errors
def demo(
    home: Annotated[Optional[Path], typer.Option(help="Project home (default $B2BSCORE_HOME or ./b2bscore-home).")] = None,
    accounts: Annotated[int, typer.Option(help="Companies in the generated world.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed of the world.")] = 42,
) -> None:
    """Run the whole loop on embedded defaults: generate a world, validate it, build features, summarise."""
    from b2bscore.home import ProjectHome
    from b2bscore.pipeline import run_demo

    with _progress("demo") as progress:
        result = run_demo(ProjectHome.resolve(home), accounts=accounts, seed=seed, progress=progress)
    table = Table(title="b2bscore demo", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for name, value in result.summary_rows():
        table.add_row(name, value)
    out.print(table)
    if not result.report.ok:
        out.print(result.report.render(), highlight=False)
        raise typer.Exit(1)


class TaskChoice(str, Enum):
    conversion = "conversion"
    churn = "churn"
    cltv = "cltv"
    all = "all"


HomeOption = Annotated[Optional[Path], typer.Option("--home", help="Project home (default $B2BSCORE_HOME or ./b2bscore-home).")]


@app.command()
@_friendly_errors
def train(
    task: Annotated[TaskChoice, typer.Argument(help="Which model to train, or all three.")],
    data: Annotated[Path, typer.Option("--data", help="Data directory: one CSV or Parquet file per table.")],
    config: Annotated[Optional[Path], typer.Option("--config", help="Training configuration (YAML/TOML).")] = None,
    mapping: MappingOption = None,
    as_of: Annotated[Optional[datetime], typer.Option("--as-of", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
                                                      help="Train on the data as it stood at this date (default: all of it).")] = None,
    home: HomeOption = None,
) -> None:
    """Train, evaluate and register models; a challenger becomes champion only when it wins."""
    import pandas as pd

    from b2bscore.home import ProjectHome
    from b2bscore.training.config import load_train_config
    from b2bscore.training.jobs import train_tasks

    train_config = load_train_config(config)
    with _progress("train") as progress:
        results = train_tasks(task.value, data, config=train_config, home=ProjectHome.resolve(home),
                              mapping=_load_mapping(mapping), as_of=None if as_of is None else pd.Timestamp(as_of),
                              progress=progress)
    print_train_results(results)


def print_train_results(results) -> None:
    """One line of figures per model (out-of-time test period), then each registry decision and its reason."""
    table = Table(title="Models (out-of-time test period)")
    for column in ("model", "v", "status", "metric", "model", "baseline", "oracle", "ROC AUC", "ECE"):
        table.add_column(column, justify="right" if column not in ("model", "status", "metric") else "left")
    fmt = lambda v: "-" if v is None or v != v else f"{v:.3f}"  # noqa: E731
    for result in results:
        d, m = result.decision, result.metrics
        metric = d.metric.removeprefix("test_")
        table.add_row(result.task, d.version, "champion" if d.promoted else "challenger", metric, fmt(m.get(f"test_{metric}")),
                      fmt(m.get(f"baseline_test_{metric}")), fmt(m.get(f"oracle_test_{metric}")),
                      fmt(m.get("test_roc_auc")), fmt(m.get("test_ece")))
    out.print(table)
    for result in results:
        out.print(f"{result.decision.name} v{result.decision.version}: {result.decision.reason}")


models_app = typer.Typer(help="Inspect and move the champion/challenger aliases of the registered models.", no_args_is_help=True)
runs_app = typer.Typer(help="Compare MLflow runs.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(runs_app, name="runs")


def _client(home: Path | None):
    from b2bscore.home import ProjectHome
    from b2bscore.training.tracking import activate, resolve_tracking

    return activate(resolve_tracking(ProjectHome.resolve(home))), ProjectHome.resolve(home)


@models_app.command("list")
@_friendly_errors
def models_list(home: HomeOption = None) -> None:
    """The registered models with their champion and challenger versions."""
    from b2bscore.training.registry import list_models

    client, _ = _client(home)
    summaries = list_models(client)
    if not summaries:
        out.print("no registered models yet: run `b2bscore train all --data DIR` first")
        return
    table = Table(title="Registered models")
    for column in ("model", "champion", "challenger", "versions", "champion's test metrics"):
        table.add_column(column)
    for s in summaries:
        metrics = ", ".join(f"{k} {v:.3f}" for k, v in (s.champion_metrics or {}).items())
        table.add_row(s.name, s.champion or "-", s.challenger or "-", str(s.versions), metrics)
    out.print(table)
    for s in summaries:
        if s.last_move:
            out.print(f"{s.name} last alias move: {s.last_move.describe()}")


@models_app.command("promote")
@_friendly_errors
def models_promote(
    name: Annotated[str, typer.Argument(help="Registered model, e.g. b2bscore-conversion.")],
    version: Annotated[str, typer.Argument(help="Version to make champion.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit trail).")] = "manual promotion",
    home: HomeOption = None,
) -> None:
    """Make VERSION the champion of NAME (recorded, and undoable with rollback)."""
    from b2bscore.training.registry import promote

    client, project = _client(home)
    move = promote(client, name, version, reason=reason, actor="b2bscore models promote",
                   audit_log=project.root / "registry-audit.jsonl")
    out.print(f"{name}: champion is now version {move.new_version} (was {move.previous_version or 'none'})")


@models_app.command("rollback")
@_friendly_errors
def models_rollback(
    name: Annotated[str, typer.Argument(help="Registered model, e.g. b2bscore-churn.")],
    home: HomeOption = None,
) -> None:
    """Give the champion alias back to the previous champion."""
    from b2bscore.training.registry import rollback

    client, project = _client(home)
    move = rollback(client, name, actor="b2bscore models rollback", audit_log=project.root / "registry-audit.jsonl")
    out.print(f"{name}: champion rolled back from version {move.previous_version} to version {move.new_version}")


@runs_app.command("compare")
@_friendly_errors
def runs_compare(
    model: Annotated[TaskChoice, typer.Option(help="Which model's runs.")] = TaskChoice.conversion,
    last: Annotated[int, typer.Option(help="How many recent runs.", min=2)] = 5,
    home: HomeOption = None,
) -> None:
    """The latest runs of a model side by side: the parameters that differ, then the metrics."""
    from b2bscore.training.registry import compare_runs

    if model is TaskChoice.all:
        raise typer.BadParameter("choose one model: conversion, churn or cltv", param_hint="--model")
    client, _ = _client(home)
    frame = compare_runs(client, f"b2bscore-{model.value}", last=last)
    if frame.empty:
        out.print(f"no runs of the {model.value} model yet")
        return
    table = Table(title=f"Latest runs of b2bscore-{model.value}")
    table.add_column("")
    for column in frame.columns:
        table.add_column(str(column), overflow="fold")
    for index, row in frame.iterrows():
        table.add_row(str(index), *[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    out.print(table)


def _quiet_libraries() -> None:
    """Keep library chatter (MLflow's info logs and download bars) out of the command's output."""
    import logging
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main() -> None:
    _quiet_libraries()
    app()


if __name__ == "__main__":
    main()
