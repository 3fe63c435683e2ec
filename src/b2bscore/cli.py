"""The ``b2bscore`` command line: a thin Typer layer over the library functions."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from typer.core import TyperCommand, TyperGroup

from b2bscore.config_io import format_validation_error
from b2bscore.errors import B2BScoreError
from b2bscore.model.tasks import TASK_NAMES


def _flags_take_no_value(params: list) -> list:
    """Typer's help shows a flag's type (``<bool>``) as if it took a value: a flag declares an empty metavar, so
    ``--dry-run`` and ``--help`` read as flags."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class _Command(TyperCommand):
    def get_params(self, ctx) -> list:
        return _flags_take_no_value(super().get_params(ctx))


class _Group(TyperGroup):
    def get_params(self, ctx) -> list:
        return _flags_take_no_value(super().get_params(ctx))


class _Typer(typer.Typer):
    """A Typer app whose groups and commands show flags as flags (see :func:`_flags_take_no_value`)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(cls=_Group, **kwargs)

    def command(self, *args, **kwargs):
        return super().command(*args, cls=_Command, **kwargs)


app = _Typer(
    name="b2bscore",
    help="Predictive scoring for B2B sales and marketing: data, features, models, segments, serving, monitoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)


def _esc(value: object) -> str:
    """A value shown in a printed line, as text: a user's path, column or message may hold ``[...]``, which rich
    would read as markup (a MarkupError, or a word silently dropped)."""
    return escape(str(value))


def _friendly_errors(command: Callable) -> Callable:
    """Turn b2bscore's own errors into one clear message and a non-zero exit, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except B2BScoreError as exc:
            err.print(f"[bold red]error:[/] {_esc(exc)}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except ValidationError as exc:
            err.print(f"[bold red]error:[/] {_esc(format_validation_error(exc, source='options'))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper


@contextmanager
def _progress(title: str) -> Iterator[Callable[[str, float], None]]:
    """A progress bar on a terminal; otherwise (cron, CI, output to a file) one line per stage on standard error,
    ``[time] title: stage (percent, seconds since the start)``, so long work is never silent."""
    if not err.is_terminal:
        yield _progress_lines(title)
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task(title, total=1.0)

        def update(step: str, fraction: float) -> None:
            bar.update(task, description=f"{title}: {step}", completed=fraction)

        yield update


def _progress_lines(title: str) -> Callable[[str, float], None]:
    started, last = time.perf_counter(), [None]

    def update(step: str, fraction: float) -> None:
        if step == last[0]:
            return
        last[0] = step
        print(f"[{datetime.now():%H:%M:%S}] {title}: {step} ({fraction:.0%}, {time.perf_counter() - started:.1f} s)",
              file=sys.stderr, flush=True)

    return update


class FileFormat(str, Enum):
    parquet = "parquet"
    csv = "csv"


class RevenueMode(str, Enum):
    subscription = "subscription"
    transactional = "transactional"
    mixed = "mixed"


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
    revenue_mode: Annotated[RevenueMode, typer.Option(help=(
        "How customers pay: subscription (monthly plan invoices until they churn), transactional (repeat orders "
        "without a contract until they silently stop, as wholesale and distribution buy; truth/buyers.parquet "
        "holds each buyer's chance to be alive and its expected orders and revenue), or mixed."))] = RevenueMode.subscription,
    transactional_share: Annotated[float, typer.Option(help="Share of accounts buying without a contract in a mixed "
                                                       "world.")] = 0.5,
    minimal: Annotated[bool, typer.Option("--minimal", help=(
        "Write the same world as a small CRM export instead: accounts (account_id, name, custom sic_code, "
        "company_size, first_contact_date), leads (lead_id, account_id, created_at, source, job_title, custom "
        "landing_page_id and the leaky lead_status), opportunities, revenue and activities (account_id, occurred_at, "
        "activity_type, topic); no technographics or intent. truth/ is unchanged, plus truth/minimal.json."))] = False,
) -> None:
    """Write a synthetic B2B world with a known generating process (truth in OUT/truth/)."""
    from b2bscore.synth import WorldConfig, generate_minimal, generate_world

    options = {"accounts": accounts, "seed": seed, "months": months, "drift": drift, "file_format": file_format.value,
               "revenue_mode": revenue_mode.value, "transactional_share": transactional_share}
    if start is not None:
        options["start"] = start.date()
    config = WorldConfig(**options)
    with _progress("generate") as progress:
        summary = (generate_minimal if minimal else generate_world)(config, out_dir, progress=progress)
    table = Table(title=f"{'Minimal export of the world' if minimal else 'World'} written to {summary.out_dir}",
                  show_header=True)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in summary.row_counts.items():
        table.add_row(name, f"{count:,}")
    out.print(table)
    out.print(f"period {_esc(summary.start)} to {_esc(summary.end)}" + (f"; drift: {_esc(drift)}" if drift else ""))


@app.command()
@_friendly_errors
def validate(
    data_dir: ExistingDir,
    mapping: MappingOption = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Also write the report as JSON to this file.")] = None,
) -> None:
    """Check every table against the data contract; exit 0 only when the data is usable."""
    from b2bscore.data.load import validate_data
    from b2bscore.io import check_writable, write_text

    if json_out is not None:
        check_writable(json_out)
    report = validate_data(data_dir, _load_mapping(mapping))
    out.print(report.render(), highlight=False, soft_wrap=True)
    if json_out is not None:
        write_text(json_out, json.dumps(report.to_dict(), indent=2, default=str))
    if not report.ok:
        raise typer.Exit(1)


class EngineChoice(str, Enum):
    """``b2bscore.serving.engines.ENGINES``."""

    local = "local"
    buckets = "buckets"
    spark = "spark"


DataLocation = Annotated[str, typer.Argument(help="Data directory: one CSV or Parquet file per table; for a bucketed "
                                             "engine also a partition (`b2bscore partition`), a path or URI.")]
EngineOption = Annotated[EngineChoice, typer.Option("--engine", help="local: the whole data in this process; buckets: "
                                                    "account buckets one after another (flat memory); spark: one Spark "
                                                    "task per bucket.")]
BucketsOption = Annotated[Optional[int], typer.Option("--buckets", min=1, help="Account buckets when the data is not "
                                                      "partitioned yet (default 8; a partition keeps its own).")]
MasterOption = Annotated[Optional[str], typer.Option("--master", help="Spark master URL, for the spark engine "
                                                     "(default: spark-submit's, else local[*]).")]


def _engine(engine: EngineChoice, buckets: int | None, master: str | None):
    from b2bscore.serving.engines import Engine

    if engine is EngineChoice.local and buckets is not None:
        raise typer.BadParameter("--buckets needs --engine buckets or --engine spark", param_hint="--buckets")
    return Engine(engine.value, buckets, master)


@app.command()
@_friendly_errors
def partition(
    data_dir: ExistingDir,
    out_dir: Annotated[str, typer.Option("--out", help="Folder (or URI: s3://, gs://, hdfs://) to write the buckets to.")],
    buckets: Annotated[int, typer.Option("--buckets", min=1, help="Number of account buckets.")] = 8,
    mapping: MappingOption = None,
) -> None:
    """Split a data directory into account buckets (by a stable hash of account_id) for --engine buckets or spark."""
    from b2bscore.serving.engines import partition as run_partition

    with _progress("partition") as progress:
        result = run_partition(data_dir, out_dir, buckets=buckets, mapping=_load_mapping(mapping), progress=progress)
    out.print(f"{sum(result.accounts):,} accounts in {_esc(result.buckets)} buckets -> {_esc(result.uri)}")


@app.command()
@_friendly_errors
def features(
    data_dir: DataLocation,
    as_of: Annotated[datetime, typer.Option("--as-of", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"], help="Features use only data strictly before this time.")],
    out_file: Annotated[Path, typer.Option("--out", help="Output file, .parquet or .csv.")],
    entity: Annotated[EntityKind, typer.Option(help="One row per account, or per lead created by the as-of time.")] = EntityKind.account,
    mapping: MappingOption = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="Feature configuration (YAML/TOML), e.g. your ICP.")] = None,
    engine: EngineOption = EngineChoice.local,
    buckets: BucketsOption = None,
    master: MasterOption = None,
) -> None:
    """Build point-in-time features for every account (or lead) as of a date."""
    import pandas as pd

    from b2bscore.data.load import load_dataset
    from b2bscore.features import build_features, load_feature_config, resolve_custom_features
    from b2bscore.io import check_table_path, write_table

    check_table_path(out_file)  # before the (slower) build: a path that cannot be written fails at once
    feature_config = load_feature_config(config)
    runner = _engine(engine, buckets, master)
    if runner.name != "local":
        from b2bscore.serving.engines import run_features

        with _progress("features") as progress:
            result = run_features(data_dir, out_file, as_of=pd.Timestamp(as_of), entity=entity.value,
                                  config=feature_config, mapping=_load_mapping(mapping), engine=runner, progress=progress)
        out.print(f"{result.rows:,} {_esc(entity.value)}s x {_esc(result.columns - 2)} features as of {as_of:%Y-%m-%d %H:%M:%S} "
                  f"({_esc(result.buckets)} buckets, {_esc(runner.name)}) -> {_esc(out_file)}")
        return
    data_dir = Path(data_dir)
    with _progress("features") as progress:
        progress("load", 0.1)
        dataset, report = load_dataset(data_dir, _load_mapping(mapping))
        progress("build", 0.5)
        # the customer's own columns and activity topics, as the data before the as-of time holds them
        feature_config = resolve_custom_features(dataset, feature_config, pd.Timestamp(as_of))
        frame = build_features(dataset, as_of=pd.Timestamp(as_of), entity=entity.value, config=feature_config)
        progress("write", 0.9)
        write_table(frame, out_file)
    for issue in report.issues:
        if issue.severity == "warning":
            err.print(f"warning: {_esc(issue.message)}", highlight=False, soft_wrap=True)
    out.print(f"{len(frame):,} {_esc(entity.value)}s x {_esc(frame.shape[1] - 2)} features as of {as_of:%Y-%m-%d %H:%M:%S} -> {_esc(out_file)}")


class DriftChoice(str, Enum):
    """``b2bscore.synth.DRIFT_KINDS`` (spelled out: the CLI starts without importing the generator)."""

    industry_mix = "industry_mix"
    channel_shift = "channel_shift"
    intent_decay = "intent_decay"
    price_change = "price_change"


@app.command()
@_friendly_errors
def demo(
    home: Annotated[Optional[Path], typer.Option(help="Project home (default $B2BSCORE_HOME or ./b2bscore-home).")] = None,
    accounts: Annotated[int, typer.Option(help="Companies in the generated world.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed of the world.")] = 42,
    drift: Annotated[Optional[DriftChoice], typer.Option(help="Generate a world that changes from its drift date on; "
                                                         "train and segment on the data before it, then score and "
                                                         "monitor at the end: the check alerts, refreshes the "
                                                         "segmentation and retrains challengers.")] = None,
) -> None:
    """Run the whole loop on embedded defaults: generate a world, validate it, build features, train, segment, score,
    monitor, summarise."""
    from b2bscore.home import ProjectHome
    from b2bscore.pipeline import run_demo

    with _progress("demo") as progress:
        result = run_demo(ProjectHome.resolve(home), accounts=accounts, seed=seed,
                          drift=None if drift is None else drift.value, progress=progress)
    table = Table(title="b2bscore demo", show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")  # long paths (the ranked list, the HTML summary) are folded, not cut
    for name, value in result.summary_rows():
        table.add_row(_esc(name), _esc(value))  # the summary's values hold the user's paths
    out.print(table)
    if not result.report.ok:
        out.print(result.report.render(), highlight=False)
        raise typer.Exit(1)


TaskChoice = Enum("TaskChoice", {**{name: name for name in TASK_NAMES}, "all": "all"}, type=str)
"""A model of :data:`b2bscore.model.tasks.TASKS`, or all of them."""


HomeOption = Annotated[Optional[Path], typer.Option("--home", help="Project home (default $B2BSCORE_HOME or ./b2bscore-home).")]
OnlineStoreOption = Annotated[Optional[str], typer.Option(
    "--online-store", help="The online feature store: sqlite (Feast's SQLite store under the home), "
    "redis://HOST:PORT/DB or off (default $B2BSCORE_ONLINE_STORE, else sqlite; the Redis password from "
    "$B2BSCORE_REDIS_PASSWORD).")]


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
    features: Annotated[Optional[Path], typer.Option("--features", help="Folder of feature tables built elsewhere "
                                                     "(<model>.parquet: one row per labelled row) to train from.")] = None,
    write_features: Annotated[Optional[Path], typer.Option("--write-features", help="Folder to write the feature "
                                                           "tables this run trains on (<model>.parquet).")] = None,
) -> None:
    """Train, evaluate and register models; a challenger becomes champion only when it wins."""
    from b2bscore import api

    with _progress("train") as progress:
        results = api.train(task.value, data, config=config, home=home, mapping=mapping, as_of=as_of, progress=progress,
                            features=features, write_features=write_features)
    print_train_results(results)


def print_train_results(results) -> None:
    """One line of figures per model (out-of-time test period), then each registry decision and its reason."""
    table = Table(title="Models: chosen on the validation period, reported on the out-of-time test period")
    for column in ("model", "v", "status", "is", "metric", "valid vs baseline", "test vs baseline", "oracle", "ECE"):
        table.add_column(column, justify="left" if column in ("model", "status", "is", "metric") else "right")
    fmt = lambda v: "-" if v is None or v != v else f"{v:.3f}"  # noqa: E731
    for result in results:
        d, m = result.decision, result.metrics
        metric = d.metric.removeprefix("test_")
        table.add_row(result.task, d.version, "champion" if d.promoted else "challenger", result.candidate, metric,
                      f"{fmt(m.get(f'chosen_valid_{metric}'))} vs {fmt(m.get(f'baseline_valid_{metric}'))}",
                      f"{fmt(m.get(f'test_{metric}'))} vs {fmt(m.get(f'baseline_test_{metric}'))}",
                      fmt(m.get(f"oracle_test_{metric}")), fmt(m.get("test_ece")))
    out.print(table)
    for result in results:
        out.print(f"{_esc(result.decision.name)} v{_esc(result.decision.version)}: {_esc(result.candidate_reason)}; {_esc(result.decision.reason)}")
        for warning in result.warnings:
            out.print(f"[bold yellow]warning:[/] {_esc(result.task)}: {_esc(warning)}", highlight=False, soft_wrap=True)
        for note in result.notes:
            out.print(f"[bold]note:[/] {_esc(result.task)}: {_esc(note)}", highlight=False, soft_wrap=True)


@app.command()
@_friendly_errors
def segment(
    data: Annotated[Path, typer.Option("--data", help="Data directory: one CSV or Parquet file per table.")],
    as_of: Annotated[Optional[datetime], typer.Option("--as-of", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
                                                      help="Segment the data as it stood at this date (default: its end).")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="Segmentation configuration (YAML/TOML): tier rules, clustering, KPI checks.")] = None,
    mapping: MappingOption = None,
    home: HomeOption = None,
    diff: Annotated[bool, typer.Option("--diff", help="Also print what moved since the previous version, and why.")] = False,
) -> None:
    """Segment every account (tier, value, firmographic, technographic, buying stage, data-driven) into a new version."""
    from b2bscore import api

    with _progress("segment") as progress:
        result = api.segment(data, home=home, as_of=as_of, config=config, mapping=mapping, progress=progress)
    print_segment_result(result, show_diff=diff)


def print_segment_result(result, *, show_diff: bool = False, flagged_shown: int = 10) -> None:
    """Tiers, data-driven segments, the segments that stand out, the tiers' backtest, where the files are (the two
    call lists first), the MLflow run, and what moved."""
    seg = result.segmentation
    frame, kpis = seg.assignments.frame, seg.kpis
    out.print(f"[bold]Segments {_esc(result.version)}[/] as of {result.as_of:%Y-%m-%d}: {len(frame):,} accounts", highlight=False)
    if result.message:
        out.print(f"[bold yellow]note:[/] {_esc(result.message)}", highlight=False, soft_wrap=True)
    if result.used_models:
        out.print("scores from " + ", ".join(f"{_esc(result.model_names[t])} v{_esc(v)}" for t, v in result.used_models.items()),
                  highlight=False)
    table = Table(title="Tiers")
    for column in ("tier", "accounts", "share", "prospects", "customers"):
        table.add_column(column, justify="left" if column == "tier" else "right")
    for tier, group in frame.groupby("tier", sort=True):
        customers = int((group["customer_status"] == "customer").sum())
        table.add_row(str(tier), f"{len(group):,}", f"{len(group) / len(frame):.0%}", f"{len(group) - customers:,}", f"{customers:,}")
    out.print(table)
    out.print(f"[bold]Data-driven segments[/] (k={_esc(seg.assignments.clustering.k)} by {_esc(seg.assignments.clustering.criterion)}):")
    for profile in seg.assignments.profiles:
        out.print(f"  {_esc(profile.name)} ({profile.size:,} accounts, {profile.share:.0%}): {_esc(profile.text)}", highlight=False, soft_wrap=True)
    flagged = kpis[kpis["flagged"]] if len(kpis) else kpis
    per_kind = ", ".join(f"{kind} {int(group['flagged'].sum())}/{len(group)}" for kind, group in kpis.groupby("kind", sort=False))
    out.print(f"[bold]Segments that stand out[/] (large enough, and different from the rest after a Benjamini-Hochberg "
              f"correction): {_esc(len(flagged))} of {_esc(len(kpis))} ({_esc(per_kind)})", highlight=False, soft_wrap=True)
    for row in flagged.sort_values("accounts", ascending=False, kind="stable").head(flagged_shown).itertuples():
        out.print(f"  {_esc(row.kind)} / {_esc(row.segment)} ({row.accounts:,} accounts): {_esc(row.flag_reason)}", highlight=False, soft_wrap=True)
    if len(flagged) > flagged_shown:
        out.print(f"  ... and {_esc(len(flagged) - flagged_shown)} smaller ones (column flag_reason in kpis.csv)")
    if seg.backtest is not None:
        out.print(f"[bold]Backtest:[/] {_esc(seg.backtest.verdict())}", highlight=False, soft_wrap=True)
    for note in seg.kpi_notes:
        out.print(f"[bold]KPIs:[/] {_esc(note)}", highlight=False, soft_wrap=True)
    out.print(f"[bold]Files:[/] {_esc(result.version_dir)}\n  prospects to call (by expected value) {_esc(result.prospects_path)}\n"
              f"  customers to call (by revenue at risk) {_esc(result.customers_path)}\n"
              f"  ranked accounts (CRM import) {_esc(result.ranked_path)}\n"
              f"  summary for sales {_esc(result.summary_path)}\n  KPI table {_esc(result.kpis_path)}\n"
              f"  campaign ROI per campaign and segment {_esc(result.campaigns_path)}", highlight=False, soft_wrap=True)
    out.print(f"[bold]MLflow:[/] run {_esc(result.run_id)} in experiment b2bscore-segments, {_esc(result.tracking)}",
              highlight=False, soft_wrap=True)
    _print_moves(result, show_diff)


def _print_moves(result, show_diff: bool) -> None:
    if result.diff is None:
        out.print("first version: nothing to compare yet" if show_diff else "first version (a later run reports what moved)")
    elif show_diff:
        out.print(f"[bold]Changes since {_esc(result.previous_version)}[/]")
        out.print(result.diff.render(), highlight=False, soft_wrap=True)
    else:
        moved = result.diff.moved
        out.print(f"since {_esc(result.previous_version)}: {moved['account_id'].nunique():,} accounts moved "
                  f"({result.diff.moved_counts.get('tier', 0):,} between tiers); `--diff` or `b2bscore segment-diff` "
                  "shows which and why", highlight=False, soft_wrap=True)


@app.command("segment-diff")
@_friendly_errors
def segment_diff(
    home: HomeOption = None,
    version: Annotated[Optional[str], typer.Option(help="Version to show (default: the latest).")] = None,
    against: Annotated[Optional[str], typer.Option(help="Version to compare with (default: the one it was compared with when made).")] = None,
    limit: Annotated[int, typer.Option(help="Moved accounts listed.", min=0)] = 20,
) -> None:
    """What moved between the latest segmentation version and the previous one, and why (nothing is recomputed)."""
    from b2bscore.home import ProjectHome
    from b2bscore.segments.store import SegmentStore

    comparison = SegmentStore.of(ProjectHome.resolve(home).require()).compare(version, against)
    out.print(f"[bold]Segments {_esc(comparison.version)}[/] compared with {_esc(comparison.previous)}", highlight=False)
    out.print(comparison.diff.render(limit=limit), highlight=False, soft_wrap=True)


@app.command()
@_friendly_errors
def score(
    data: Annotated[str, typer.Option("--data", help="Data directory: one CSV or Parquet file per table; for a "
                                      "bucketed engine also a partition (`b2bscore partition`), a path or URI.")],
    out_file: Annotated[Path, typer.Option("--out", help="Output file name (.csv or .parquet): writes <name>-leads and <name>-accounts.")],
    as_of: Annotated[Optional[datetime], typer.Option("--as-of", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
                                                      help="Score as of this time (default: just after the data's end).")] = None,
    mapping: MappingOption = None,
    home: HomeOption = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=100, help="Entities scored per chunk (bounds memory).")] = 20_000,
    log_predictions: Annotated[bool, typer.Option("--log/--no-log", help="Append the scores to the prediction log (for monitoring).")] = True,
    engine: EngineOption = EngineChoice.local,
    buckets: BucketsOption = None,
    master: MasterOption = None,
    online_store: OnlineStoreOption = None,
) -> None:
    """Batch scoring for CRM import: every open lead and every account, with reasons, scored by the champions; their
    features go to the online store that the service scores ids from."""
    import os

    from b2bscore import api
    from b2bscore.serving.online import StoreLocation

    runner = _engine(engine, buckets, master)
    location = StoreLocation.resolve(online_store, os.environ, source="--online-store")
    with _progress("score") as progress:
        if runner.name == "local":
            result = api.score(data, out_file, home=home, mapping=mapping, as_of=as_of, chunk_size=chunk_size,
                               log_predictions=log_predictions, online_store=location, progress=progress)
        else:
            from b2bscore.home import ProjectHome
            from b2bscore.serving.engines import run_scoring

            result = run_scoring(data, out_file, home=ProjectHome.resolve(home), mapping=_load_mapping(mapping),
                                 as_of=as_of, chunk_size=chunk_size, log_predictions=log_predictions, engine=runner,
                                 online_store=location, progress=progress)
    versions = ", ".join(f"{task} v{version}" for task, version in result.versions.items())
    out.print(f"scored as of {_esc(result.as_of)} with {_esc(versions)}")
    if result.leads_path is not None:
        out.print(f"{result.leads:,} open leads -> {_esc(result.leads_path)}")
    else:
        out.print("no open leads to score")
    out.print(f"{result.accounts:,} accounts -> {_esc(result.accounts_path)}")
    if result.online_store is not None:
        rows = sum(result.online_store["rows"].values())
        out.print(f"online store ({_esc(result.online_store['store'])}): {rows:,} feature rows as of {_esc(result.as_of)}, "
                  f"generation {_esc(result.online_store['generation'])}")


@app.command()
@_friendly_errors
def serve(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 3000,
    host: Annotated[str, typer.Option("--host", help="Interface to bind (0.0.0.0 to accept remote clients).")] = "127.0.0.1",
    home: HomeOption = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="Serve settings (YAML/TOML, e.g. serving/serve.yaml); the options below override it.")] = None,
    refresh_seconds: Annotated[Optional[float], typer.Option("--refresh-seconds", show_default="30", help="How often to ask the registry whether a champion moved.")] = None,
    max_batch: Annotated[Optional[int], typer.Option("--max-batch", show_default="1000", help="Most records per request.")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", show_default="1", help="Worker processes (scoring is CPU-bound: up to one per core).")] = None,
    max_body_mb: Annotated[Optional[float], typer.Option("--max-body-mb", show_default="10", help="Largest request body in MB; a larger one is refused with 413.")] = None,
    metrics_open: Annotated[bool, typer.Option("--metrics-open", help="Serve /metrics without the API key (for a Prometheus scraper inside your network); default: the key is needed, or what --config says.")] = False,
    log_flush_rows: Annotated[Optional[int], typer.Option("--log-flush-rows", show_default="5000", help="The prediction log writes a part once this many rows wait.")] = None,
    log_flush_seconds: Annotated[Optional[float], typer.Option("--log-flush-seconds", show_default="60", help="... or once the oldest row has waited this long (and always when the service stops).")] = None,
    online_store: OnlineStoreOption = None,
    store_max_age_hours: Annotated[Optional[float], typer.Option("--store-max-age-hours", show_default="36", help="/ready and /models call the online store stale past this age.")] = None,
) -> None:
    """Serve the champions over HTTP (BentoML): score_leads, score_accounts, health, ready, models.

    Set B2BSCORE_API_KEY to require 'Authorization: Bearer <key>' on the scoring endpoints.
    """
    from b2bscore.serving.config import load_serve_config
    from b2bscore.serving.launch import serve as serve_service

    settings = load_serve_config(config).updated(
        {"home": home, "refresh_seconds": refresh_seconds, "max_batch": max_batch, "workers": workers,
         "max_body_mb": max_body_mb, "metrics_open": metrics_open or None, "log_flush_rows": log_flush_rows,
         "log_flush_seconds": log_flush_seconds, "online_store": online_store,
         "store_max_age_hours": store_max_age_hours},
        source="b2bscore serve options")
    serve_service(settings, host=host, port=port)


models_app = _Typer(help="Inspect and move the champion/challenger aliases of the registered models.", no_args_is_help=True)
runs_app = _Typer(help="Compare MLflow runs.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(runs_app, name="runs")


def _client(home: Path | None, *, must_exist: bool = True):
    """The registry of an existing home, and the home; None for the client when the home has no registry yet and
    ``must_exist`` is false. Nothing is created: these commands only read (or move aliases)."""
    from b2bscore.errors import ConfigError
    from b2bscore.home import ProjectHome
    from b2bscore.model.tracking import activate, resolve_tracking

    project = ProjectHome.resolve(home)
    tracking = resolve_tracking(project)
    if tracking.embedded:
        project.require()
        if not project.tracking_db.is_file():
            if not must_exist:
                return None, project
            raise ConfigError(f"the project home {project.root} has no model registry yet (no {project.tracking_db.name}):"
                              " run `b2bscore train all --data DIR` first")
    return activate(tracking), project


@models_app.command("list")
@_friendly_errors
def models_list(home: HomeOption = None) -> None:
    """The registered models with their champion and challenger versions."""
    from b2bscore.model.registry import list_models

    client, project = _client(home, must_exist=False)
    summaries = [] if client is None else list_models(client, audit_log=project.audit_log)
    if not summaries:
        out.print("no registered models yet: run `b2bscore train all --data DIR` first")
        return
    table = Table(title="Registered models")
    for column in ("model", "champion", "challenger", "versions", "champion is", "champion's test metrics"):
        table.add_column(column)
    for s in summaries:
        versions = f"{s.versions} ({s.abandoned} abandoned)" if s.abandoned else str(s.versions)
        table.add_row(s.name, s.champion or "-", s.challenger or "-", versions, s.candidate or "-",
                      ", ".join(f"{k} {v:.3f}" for k, v in (s.champion_metrics or {}).items()))
    out.print(table)
    for s in summaries:
        if s.baseline_metrics:
            out.print(f"{_esc(s.name)} v{_esc(s.champion)} ({_esc(s.candidate)}) beside its baseline: {_esc(_beside_baseline(s))}", highlight=False)
    for s in summaries:
        if s.challenger:
            out.print(f"{_esc(s.name)} challenger v{_esc(s.challenger)} beside champion v{_esc(s.champion or '-')}: "
                      f"{_esc(_beside_champion(s))}", highlight=False)
    for s in summaries:
        if s.last_move:
            out.print(f"{_esc(s.name)} last alias move: {_esc(s.last_move.describe())}")


def _beside_champion(summary) -> str:
    """'roc_auc 0.705 vs 0.712, brier 0.081 vs 0.080 on the test period': the challenger's test metrics beside the
    champion's."""
    challenger, champion = summary.challenger_metrics or {}, summary.champion_metrics or {}
    parts = [f"{k} {v:.3f} vs {champion[k]:.3f}" if k in champion else f"{k} {v:.3f}" for k, v in challenger.items()]
    return ", ".join(parts) + " on the test period" if parts else "no test metrics recorded"


def _beside_baseline(summary) -> str:
    """'pr_auc 0.281 vs 0.279 on the validation period, 0.262 vs 0.255 on the test period': the champion's primary
    metric beside its baseline's, on each period both were recorded for."""
    baseline, valid, test = summary.baseline_metrics or {}, summary.valid_metrics or {}, summary.champion_metrics or {}
    parts, metric = [], None
    for key in sorted(baseline, reverse=True):  # validation first: the period the champion was chosen on
        period, _, name = key.partition("_")
        own = (valid if period == "valid" else test).get(name)
        if own is not None:
            metric = name
            parts.append(f"{own:.3f} vs {baseline[key]:.3f} on the {'validation' if period == 'valid' else 'test'} period")
    return f"{metric} " + ", ".join(parts) if parts else "not recorded"


@models_app.command("promote")
@_friendly_errors
def models_promote(
    name: Annotated[str, typer.Argument(help="Registered model, e.g. b2bscore-conversion.")],
    version: Annotated[str, typer.Argument(help="Version to make champion.")],
    reason: Annotated[str, typer.Option(help="Why (recorded in the audit trail).")] = "manual promotion",
    home: HomeOption = None,
) -> None:
    """Make VERSION the champion of NAME (recorded, and undoable with rollback)."""
    from b2bscore.model.registry import promote

    client, project = _client(home)
    move = promote(client, name, version, reason=reason, actor="b2bscore models promote",
                   audit_log=project.audit_log)
    out.print(f"{_esc(name)}: champion is now version {_esc(move.new_version)} (was {_esc(move.previous_version or 'none')})")


@models_app.command("rollback")
@_friendly_errors
def models_rollback(
    name: Annotated[str, typer.Argument(help="Registered model, e.g. b2bscore-churn.")],
    home: HomeOption = None,
) -> None:
    """Give the champion alias back to the previous champion."""
    from b2bscore.model.registry import rollback

    client, project = _client(home)
    move = rollback(client, name, actor="b2bscore models rollback", audit_log=project.audit_log)
    out.print(f"{_esc(name)}: champion rolled back from version {_esc(move.previous_version)} to version {_esc(move.new_version)}")


@runs_app.command("compare")
@_friendly_errors
def runs_compare(
    model: Annotated[TaskChoice, typer.Option(help="Which model's runs.")] = TaskChoice.conversion,
    last: Annotated[int, typer.Option(help="How many recent runs.", min=2)] = 5,
    home: HomeOption = None,
) -> None:
    """The latest runs of a model side by side: the parameters that differ, then the metrics."""
    from b2bscore.model.registry import compare_runs
    from b2bscore.model.tasks import TASKS

    if model is TaskChoice.all:
        raise typer.BadParameter(f"choose one model: {', '.join(TASK_NAMES)}", param_hint="--model")
    client, _ = _client(home, must_exist=False)
    if client is None:
        out.print(f"no runs of the {_esc(model.value)} model yet")
        return
    task = TASKS[model.value]
    comparison = compare_runs(client, task.experiment, last=last, model_name=task.model_name)
    if comparison.empty:
        out.print(f"no runs of the {_esc(model.value)} model yet")
        return
    if comparison.parameters.empty:
        out.print(f"Parameters that differ between the latest runs of {_esc(task.model_name)}: none")
    else:
        out.print(_frame_table(comparison.parameters,
                               f"Parameters that differ between the latest runs of {_esc(task.model_name)}"))
    out.print(_frame_table(comparison.metrics, f"Test metrics of the latest runs of {_esc(task.model_name)}"))


def _frame_table(frame, title: str) -> Table:
    """A table of ``frame`` (rows: names, columns: runs); a row of whole numbers (counts) is shown as integers."""
    import math

    table = Table(title=title)
    table.add_column("")
    for column in frame.columns:
        table.add_column(str(column), overflow="fold", justify="right")
    for index, row in frame.iterrows():
        numbers = [v for v in row if isinstance(v, float) and math.isfinite(v)]
        whole = bool(numbers) and all(v.is_integer() for v in numbers) and any(abs(v) > 1 for v in numbers)
        table.add_row(str(index), *[_cell(v, whole=whole) for v in row])
    return table


def _cell(value, *, whole: bool) -> str:
    if not isinstance(value, float):
        return _esc(value)  # a run's parameter is the user's text
    if value != value:
        return "-"  # a run that did not record it
    return str(int(value)) if whole else f"{value:.4f}"


class SourceChoice(str, Enum):
    auto = "auto"
    log = "log"
    data = "data"


@app.command()
@_friendly_errors
def monitor(
    data: Annotated[Path, typer.Option("--data", help="Data directory: one CSV or Parquet file per table.")],
    window: Annotated[Optional[str], typer.Option("--window", help="Current data: the last N days (30d), weeks (4w) "
                                                                   "or hours (48h); default 90d.")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="Monitoring configuration (YAML/TOML): thresholds, "
                                                                    "segments, webhook, refresh.")] = None,
    source: Annotated[Optional[SourceChoice], typer.Option("--source", help="Current rows from the prediction log, "
                                                           "from the data, or the log when it has rows (auto).")] = None,
    as_of: Annotated[Optional[datetime], typer.Option("--as-of", formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"],
                                                      help="Read the data as it stood at this date (default: its end).")] = None,
    mapping: MappingOption = None,
    home: HomeOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and report, but send no alert, refresh nothing and "
                                                            "record nothing.")] = False,
) -> None:
    """Drift, score and performance checks of the champions per segment; alerts, and a segment refresh on alert.

    Exit code: 0 ok (or warnings only); 1 a segment alerts; 2 the check could not run;
    3 an alert, recovery or refresh could not be done (kept, and retried by the next check).
    """
    from b2bscore import api

    try:
        with _progress("monitor") as progress, _warnings_shown():
            run = api.monitor(data, home=home, config=config, mapping=mapping, as_of=as_of, window=window,
                              source=None if source is None else source.value, dry_run=dry_run, progress=progress)
    except (B2BScoreError, ValidationError):
        raise  # one clear message and exit 2, from _friendly_errors
    except Exception as exc:  # noqa: BLE001 (exit 1 means "alert": a check that could not run must never exit 1)
        err.print(f"[bold red]error:[/] the check could not run: {_esc(_describe(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    print_monitor_run(run)
    raise typer.Exit(run.exit_code)


@contextmanager
def _warnings_shown() -> Iterator[None]:
    """Print the library's warnings (e.g. an unreadable prediction-log part it skipped) as ``warning: ...`` lines
    while the command runs, whatever logging the caller configured."""
    import logging

    class Printer(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            err.print(f"[yellow]warning:[/] {_esc(record.getMessage())}", highlight=False, soft_wrap=True)

    logger, handler = logging.getLogger("b2bscore"), Printer(level=logging.WARNING)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _describe(exc: BaseException) -> str:
    """An unexpected error in one line: its type and message, and the file it names when it names one."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    where = getattr(exc, "filename", None)
    return f"{type(exc).__name__}" + (f": {text}" if text else "") + (f" ({where})" if where and str(where) not in text else "")


def print_monitor_run(run) -> None:
    """Per model the segments that warn or alert and why, then alerts, refresh, where the reports are."""
    from b2bscore.monitoring.job import UNREADABLE_LOG_PART

    result = run.result
    colour = {"ok": "green", "warn": "yellow", "alert": "bold red", "not_judged": "dim"}
    out.print(f"[bold]Monitoring[/] as of {result.as_of:%Y-%m-%d}: [{colour[result.status]}]{_esc(result.status)}[/]", highlight=False)
    for check in result.tasks:
        out.print(f"{_esc(check.task)} ({_esc(check.model_name)} v{_esc(check.model_version)}, current rows from the {_esc(check.source)}): "
                  + check.status_summary(), highlight=False)
        for seg in check.segments:
            if seg.status in ("alert", "warn"):
                out.print(f"  [{colour[seg.status]}]{_esc(seg.status)}[/] {_esc(seg.name)}: "
                          + "; ".join(f.text for f in seg.findings), highlight=False, soft_wrap=True)
    for task, why in result.skipped.items():
        err.print(f"[yellow]not checked:[/] {_esc(task)}: {_esc(why)}", highlight=False, soft_wrap=True)
    for note in result.notes:
        if not note.startswith(UNREADABLE_LOG_PART):  # shown as a warning when the part was skipped
            out.print(f"note: {_esc(note)}", highlight=False, soft_wrap=True)
    delivery = run.delivery
    if delivery.events:
        out.print(f"alerts: {_esc(delivery.describe())}", highlight=False, soft_wrap=True)
    refresh = run.refresh
    for line in refresh.planned if refresh.dry_run else ():
        out.print(f"would {_esc(line)}", highlight=False, soft_wrap=True)
    if refresh.segment_version:
        out.print(f"segments refreshed: version {_esc(refresh.segment_version)}", highlight=False)
    for line in refresh.retrained:
        out.print(f"retrained: {_esc(line)}", highlight=False, soft_wrap=True)
    for line in refresh.errors:
        err.print(f"[bold red]error:[/] {_esc(line)}", highlight=False, soft_wrap=True)
    out.print(f"reports: {_esc(run.folder / 'summary.html')}" + (f"; MLflow run {_esc(run.run_id)} in b2bscore-monitoring" if run.run_id else ""),
              highlight=False, soft_wrap=True)


def _quiet_libraries() -> None:
    """Keep library chatter (MLflow's info logs and download bars) out of the command's output."""
    import logging
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # mlflow resets its loggers' level when imported
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main() -> None:
    _quiet_libraries()
    app()


if __name__ == "__main__":
    main()
