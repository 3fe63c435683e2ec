"""What a person opens: Evidently's reports per model, and one summary page and JSON from the typed result.

The Evidently drift report uses the same drift amounts and thresholds as the check; the check additionally
requires the significance test to agree (see ``DriftTestConfig``), which the summary page shows.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from b2bscore.monitoring.config import MonitorConfig
from b2bscore.monitoring.drift import FeatureSchema
from b2bscore.monitoring.result import MonitorResult, SegmentResult
from b2bscore.monitoring.stats import CATEGORICAL, column_kind


def _column_types(reference: pd.DataFrame, current: pd.DataFrame, schema: FeatureSchema,
                  config: MonitorConfig) -> tuple[list[str], list[str]]:
    """Numeric and categorical columns as the check typed them (few-valued numbers count as categories), leaving out
    columns without any value on one side."""
    numeric, categorical = [], []
    for name in schema.names:
        if reference[name].isna().all() or current[name].isna().all():
            continue  # nothing to compare (Evidently refuses an empty column); the check reports it as not tested
        kind = column_kind(reference[name].dropna(), current[name].dropna(), categorical=name in schema.categorical,
                           max_categories=config.drift.max_categories)
        (categorical if kind == CATEGORICAL else numeric).append(name)
    return numeric, categorical


def _as_evidently(frame: pd.DataFrame, numeric: list[str], categorical: list[str], extra: list[str]) -> pd.DataFrame:
    out = frame[numeric + extra].astype("float64")
    for name in categorical:
        out[name] = frame[name].astype(object).where(frame[name].notna(), None).map(lambda v: None if v is None else str(v))
    return out


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, *, schema: FeatureSchema, config: MonitorConfig):
    """Evidently's data drift preset over the model's features plus the score distribution, whole population."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    numeric, categorical = _column_types(reference, current, schema, config)
    definition = DataDefinition(numerical_columns=numeric + ["prediction"], categorical_columns=categorical)
    drift = config.drift
    report = Report([
        DataDriftPreset(columns=numeric + categorical, num_method=drift.numeric_amount, cat_method=drift.categorical_amount,
                        num_threshold=drift.numeric_threshold, cat_threshold=drift.categorical_threshold),
        ValueDrift(column="prediction", method=drift.numeric_amount, threshold=config.rules.score_drift.warn),
    ])
    def dataset(frame: pd.DataFrame):
        return Dataset.from_pandas(_as_evidently(frame, numeric, categorical, ["prediction"]), data_definition=definition)

    return report.run(current_data=dataset(current), reference_data=dataset(reference))


def performance_report(reference: pd.DataFrame, matured: pd.DataFrame, *, kind: str):
    """Evidently's classification (or regression) preset: the reference rows against the rows whose outcome is known."""
    from evidently import BinaryClassification, DataDefinition, Dataset, Regression, Report
    from evidently.presets import ClassificationPreset, RegressionPreset

    columns = ["label", "prediction"]
    if kind == "classification":
        definition = DataDefinition(numerical_columns=["prediction"], categorical_columns=["label"], classification=[
            BinaryClassification(target="label", prediction_probas="prediction", pos_label=1)])
        preset = ClassificationPreset()
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


def _segment_row(s: SegmentResult) -> str:
    e = html.escape
    perf = s.performance
    known = perf is not None and perf.calibration.gap == perf.calibration.gap
    cal = f"{perf.calibration.gap:+.0%} (z {perf.calibration.z:.1f})" if known else "-"
    rank = (f"{perf.reference.value:.3f} &rarr; {perf.current.value:.3f}" if perf and perf.reference and perf.current else "-")
    drifted = ", ".join(f"{f.column} ({f.amount:.2f})" for f in s.drifted[:6]) + (" ..." if len(s.drifted) > 6 else "")
    score = f"{s.score.amount:.3f}" if s.score else "-"
    share = f"{s.share.reference:.1%} &rarr; {s.share.current:.1%}" if s.share else "-"
    why = "<br>".join(e(f.text) for f in s.findings) or "<br>".join(e(n) for n in s.notes)
    return (f"<tr><td>{e(s.name)}</td><td style='color:{_COLOURS[s.status]};font-weight:bold'>{s.status}</td>"
            f"<td>{s.reference_rows:,}</td><td>{s.current_rows:,}</td><td>{s.matured_rows:,}</td>"
            f"<td>{s.drifted_share:.0%}</td><td>{e(drifted)}</td><td>{share}</td><td>{score}</td><td>{cal}</td><td>{rank}</td>"
            f"<td>{why}</td></tr>")


def summary_html(result: MonitorResult) -> str:
    """One page: the status, then per model a table of its segments with the figures behind each status."""
    e = html.escape
    parts = [f"<html><head><meta charset='utf-8'><title>b2bscore monitoring {result.as_of:%Y-%m-%d}</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
             "td,th{border:1px solid #ccc;padding:4px 6px;vertical-align:top}th{background:#eee}</style></head><body>",
             f"<h1>Monitoring: <span style='color:{_COLOURS[result.status]}'>{result.status}</span></h1>",
             f"<p>As of {result.as_of:%Y-%m-%d %H:%M}, checked {result.checked_at:%Y-%m-%d %H:%M} UTC. A feature counts as "
             "drifted when its drift amount reaches the threshold and the significance test agrees (p below "
             f"{result.config.drift.p_value:g}).</p>"]
    for note in result.notes:
        parts.append(f"<p><i>{e(note)}</i></p>")
    for task, reason in result.skipped.items():
        parts.append(f"<h2>{e(task)}: not checked</h2><p>{e(reason)}</p>")
    header = ("<tr><th>segment</th><th>status</th><th>reference rows</th><th>current rows</th><th>rows with outcome</th>"
              "<th>drifted features</th><th>most drifted</th><th>share of accounts</th><th>score drift</th><th>calibration gap</th>"
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
