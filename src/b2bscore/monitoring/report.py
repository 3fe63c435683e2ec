"""What a person opens: Evidently's reports per model, and one summary page and JSON from the typed result.

Both pages count the same columns the same way: the model's inputs that have a value on both sides (the score is
shown apart), drifted when the drift amount reaches its threshold *and* the significance test agrees (see
``DriftTestConfig``). Amounts are shown as multiples of their threshold (1.0 = at the threshold), since raw
Wasserstein and Jensen-Shannon figures mean nothing to a reader.
"""

from __future__ import annotations

import html
import json
import uuid
from pathlib import Path

import pandas as pd

from b2bscore.monitoring.config import MonitorConfig
from b2bscore.monitoring.result import MonitorResult, SegmentResult
from b2bscore.monitoring.stats import CATEGORICAL, ColumnDrift

TOP_SHARE = 0.1
"""The performance report judges the scores at the cut-off of the reference's top decile (sales works the top of
the list; a calibrated model with a 13% base rate never reaches Evidently's default 0.5)."""


def _as_evidently(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> pd.DataFrame:
    out = frame[numeric].astype("float64")
    for name in categorical:
        out[name] = frame[name].astype(object).where(frame[name].notna(), None).map(lambda v: None if v is None else str(v))
    return out


def _verdict_test(verdicts: dict[str, ColumnDrift], config: MonitorConfig):
    """An Evidently stat test that gives each column the check's own verdict: its drift amount in multiples of its
    threshold (1.0 = the threshold), drifted when the check found it drifted (amount at the threshold *and* the
    significance test agreeing). Registered under a fresh name per report, so the page counts what the summary
    counts."""
    from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
    from evidently.legacy.core import ColumnType

    drift = config.drift

    def verdict(reference: pd.Series, current: pd.Series, feature_type, threshold: float) -> tuple[float, bool]:
        found = verdicts[reference.name]
        return found.severity, found.drifted

    test = StatTest(name=f"b2bscore-{uuid.uuid4().hex[:12]}", default_threshold=1.0,
                    allowed_feature_types=[ColumnType.Numerical, ColumnType.Categorical],
                    display_name=f"b2bscore: amount / threshold ({drift.numeric_amount} {drift.numeric_threshold:g} "
                                 f"numeric, {drift.categorical_amount} {drift.categorical_threshold:g} categorical), "
                                 f"drifted at 1 or more when {drift.numeric_test}/{drift.categorical_test} p < "
                                 f"{drift.p_value:g}")
    register_stattest(test, verdict)
    return test.name


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, *, overall: SegmentResult, config: MonitorConfig):
    """Evidently's data drift preset over the columns the check tested in the whole population (the model's inputs
    with a value on both sides) plus the score distribution, each with the check's verdict and its amount in
    multiples of its threshold; None when the check judged no drift in the whole population."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    if not overall.features:
        return None
    verdicts = {f.column: f for f in overall.features}
    numeric = [f.column for f in overall.features if f.kind != CATEGORICAL]
    categorical = [f.column for f in overall.features if f.kind == CATEGORICAL]
    if overall.score is not None:
        verdicts["prediction"] = overall.score
        numeric.append("prediction")
    method = _verdict_test(verdicts, config)
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    metrics = [DataDriftPreset(columns=[f.column for f in overall.features], method=method, threshold=1.0)]
    if overall.score is not None:
        metrics.append(ValueDrift(column="prediction", method=method, threshold=1.0))

    def dataset(frame: pd.DataFrame):
        return Dataset.from_pandas(_as_evidently(frame, numeric, categorical), data_definition=definition)

    return Report(metrics).run(current_data=dataset(current), reference_data=dataset(reference))


def top_decile_cut(reference: pd.DataFrame) -> float:
    """The score at which the reference's top ``TOP_SHARE`` of rows starts."""
    return float(reference["prediction"].astype("float64").quantile(1 - TOP_SHARE))


def performance_report(reference: pd.DataFrame, matured: pd.DataFrame, *, kind: str):
    """Evidently's classification (or regression) preset: the reference rows against the rows whose outcome is known.

    Classification is judged at :func:`top_decile_cut` of the reference (the same cut-off on both sides), not at 0.5.
    """
    from evidently import BinaryClassification, DataDefinition, Dataset, Regression, Report
    from evidently.presets import ClassificationPreset, RegressionPreset

    columns = ["label", "prediction"]
    if kind == "classification":
        definition = DataDefinition(numerical_columns=["prediction"], categorical_columns=["label"], classification=[
            BinaryClassification(target="label", prediction_probas="prediction", pos_label=1)])
        preset = ClassificationPreset(probas_threshold=top_decile_cut(reference))
        prepare = lambda f: f[columns].astype({"label": "int64", "prediction": "float64"})  # noqa: E731
    else:
        definition = DataDefinition(numerical_columns=columns, regression=[Regression(target="label", prediction="prediction")])
        preset = RegressionPreset()
        prepare = lambda f: f[columns].astype("float64")  # noqa: E731
    return Report([preset]).run(current_data=Dataset.from_pandas(prepare(matured), data_definition=definition),
                                reference_data=Dataset.from_pandas(prepare(reference), data_definition=definition))


def write_summary(result: MonitorResult, folder: Path) -> tuple[Path, Path]:
    """``summary.json`` and ``summary.html`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / "summary.json"
    json_path.write_text(json.dumps(result.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    html_path = folder / "summary.html"
    html_path.write_text(summary_html(result), encoding="utf-8")
    return json_path, html_path


_COLOURS = {"alert": "#c0392b", "warn": "#d68910", "ok": "#1e8449", "not_judged": "#7f8c8d"}


def _times(drift: ColumnDrift) -> str:
    """A drift amount as a multiple of its threshold: ``x2.3``."""
    return f"&times;{drift.severity:.1f}" if drift.severity < 100 else f"&times;{drift.severity:,.0f}"


def _segment_row(s: SegmentResult) -> str:
    e = html.escape
    perf = s.performance
    known = perf is not None and perf.calibration.gap == perf.calibration.gap
    cal = f"{perf.calibration.gap:+.0%} (z {perf.calibration.z:.1f})" if known else "-"
    rank = (f"{perf.reference.value:.3f} &rarr; {perf.current.value:.3f}" if perf and perf.reference and perf.current else "-")
    drifted = ", ".join(f"{e(f.column)} ({_times(f)})" for f in s.drifted[:6]) + (" ..." if len(s.drifted) > 6 else "")
    score = (_times(s.score) + (" drifted" if s.score.drifted else "")) if s.score else "-"
    share = f"{s.share.reference:.1%} &rarr; {s.share.current:.1%}" if s.share else "-"
    tested = f"{len(s.drifted)} of {len(s.features)} ({s.drifted_share:.0%})" if s.features else "-"
    why = "<br>".join(e(f.text) for f in s.findings) or "<br>".join(e(n) for n in s.notes)
    return (f"<tr><td>{e(s.name)}</td><td style='color:{_COLOURS[s.status]};font-weight:bold'>{s.status}</td>"
            f"<td>{s.reference_rows:,}</td><td>{s.current_rows:,}</td><td>{s.matured_rows:,}</td>"
            f"<td>{tested}</td><td>{drifted}</td><td>{share}</td><td>{score}</td><td>{cal}</td><td>{rank}</td>"
            f"<td>{why}</td></tr>")


def summary_html(result: MonitorResult) -> str:
    """One page: the status, then per model a table of its segments with the figures behind each status."""
    e = html.escape
    parts = [f"<html><head><meta charset='utf-8'><title>b2bscore monitoring {result.as_of:%Y-%m-%d}</title>",
             "<meta name='viewport' content='width=device-width'>"
             "<style>body{font-family:sans-serif;margin:2em;max-width:100%}"
             "table{border-collapse:collapse;font-size:13px;width:100%}"
             "td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top;overflow-wrap:anywhere}th{background:#eee}"
             "p{overflow-wrap:anywhere}</style></head><body>",
             f"<h1>Monitoring: <span style='color:{_COLOURS[result.status]}'>{result.status}</span></h1>",
             f"<p>As of {result.as_of:%Y-%m-%d %H:%M}, checked {result.checked_at:%Y-%m-%d %H:%M} UTC. A feature counts as "
             "drifted when its drift amount reaches the threshold and the significance test agrees (p below "
             f"{result.config.drift.p_value:g}). The features checked are the model's inputs that have a value on both "
             "sides; the score is checked apart. Drift is shown as the amount in multiples of its threshold "
             f"({result.config.drift.numeric_amount} {result.config.drift.numeric_threshold:g} for numbers, "
             f"{result.config.drift.categorical_amount} {result.config.drift.categorical_threshold:g} for categories): "
             "&times;1.0 is at the threshold. Each model's Evidently drift report gives every column the same verdict "
             "and counts the same columns.</p>"]
    for note in result.notes:
        parts.append(f"<p><i>{e(note)}</i></p>")
    for task, reason in result.skipped.items():
        parts.append(f"<h2>{e(task)}: not checked</h2><p>{e(reason)}</p>")
    header = ("<tr><th>segment</th><th>status</th><th>reference rows</th><th>current rows</th><th>rows with outcome</th>"
              "<th>drifted features</th><th>most drifted (&times; threshold)</th><th>share of accounts</th>"
              "<th>score drift (&times; threshold)</th><th>calibration gap</th>"
              "<th>ranking (ref &rarr; now)</th><th>why</th></tr>")
    for check in result.tasks:
        links = " ".join(f"<a href='{e(Path(path).name)}'>{e(name)} report</a>" for name, path in check.reports.items())
        window = f"{check.window_start:%Y-%m-%d} to " if check.window_start is not None else "as of "
        parts.append(f"<h2>{e(check.task)}: {e(check.model_name)} v{e(check.model_version)} "
                     f"<span style='color:{_COLOURS[check.status]}'>{check.status}</span></h2>"
                     f"<p>current rows from the {e(check.source)} ({window}{check.window_end:%Y-%m-%d}); key features: "
                     f"{e(', '.join(check.key_features) or 'none')}. {links}</p>")
        parts.extend(f"<p><i>{e(n)}</i></p>" for n in check.notes)
        parts.append("<table>" + header + "".join(_segment_row(s) for s in check.segments) + "</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
