"""The validation report: typed issues, a JSON form and a plain-text rendering a person reads."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Example:
    """One offending row: its number as it appears in the file (CSV: line number, header = line 1;
    Parquet: 1-based row position) and the offending value, when there is one."""

    row: int | None
    value: str | None = None


@dataclass(frozen=True)
class Issue:
    """One finding about the data; ``problem`` is a short machine-readable code such as ``"unparseable"``."""

    severity: Severity
    table: str | None
    column: str | None
    problem: str
    message: str
    count: int = 0
    examples: tuple[Example, ...] = ()

    @property
    def rows(self) -> tuple[int, ...]:
        """Row numbers of the examples, as they appear in the file."""
        return tuple(e.row for e in self.examples if e.row is not None)

    @property
    def values(self) -> tuple[str, ...]:
        """Offending values of the examples."""
        return tuple(e.value for e in self.examples if e.value is not None)

    @property
    def location(self) -> str:
        if self.table is None:
            return "data"
        return self.table if self.column is None else f"{self.table}.{self.column}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "table": self.table,
            "column": self.column,
            "problem": self.problem,
            "message": self.message,
            "count": int(self.count),
            "examples": [{"row": e.row, "value": e.value} for e in self.examples],
        }


@dataclass(frozen=True)
class ValidationReport:
    """Everything validation found in one data directory; ``ok`` means no error-severity issue."""

    issues: tuple[Issue, ...] = ()
    row_counts: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(i.severity == "error" for i in self.issues)

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form of the report."""
        return {
            "ok": self.ok,
            "issues": [i.to_dict() for i in self.issues],
            "row_counts": {k: int(v) for k, v in self.row_counts.items()},
            "files": dict(self.files),
        }

    def render(self, *, severities: tuple[Severity, ...] = SEVERITIES) -> str:
        """Plain text: one line per issue (errors first), then a summary line."""
        order = {s: n for n, s in enumerate(SEVERITIES)}
        shown = sorted((i for i in self.issues if i.severity in severities), key=lambda i: order[i.severity])
        lines = [f"{i.severity.upper()} {i.location}: {i.message}" for i in shown]
        lines.append(self.summary())
        return "\n".join(lines)

    def summary(self) -> str:
        counts = Counter(i.severity for i in self.issues)
        tables = ", ".join(f"{name} {rows:,} rows" for name, rows in self.row_counts.items()) or "no tables"
        tally = f"{counts['error']} error(s), {counts['warning']} warning(s), {counts['info']} note(s)"
        verdict = "data is usable" if self.ok else "data is NOT usable: fix the errors above and validate again"
        return f"Summary: {tables}; {tally}; {verdict}."


def format_examples(examples: tuple[Example, ...], *, limit: int = 5) -> str:
    """``rows 4, 9, 17: '2024-13-01', 'yesterday'`` for use inside an issue message."""
    shown = examples[:limit]
    rows = [str(e.row) for e in shown if e.row is not None]
    values = [repr(e.value) for e in shown if e.value is not None]
    text = ""
    if rows:
        text = ("row " if len(rows) == 1 else "rows ") + ", ".join(rows)
    if values:
        text = f"{text}: {', '.join(values)}" if text else ", ".join(values)
    return text


def examples_where(mask: np.ndarray, values: pd.Series, offset: int, *, show_values: bool = True,
                   limit: int = 5) -> tuple[Example, ...]:
    """The first ``limit`` rows where ``mask`` holds; row numbers are the index (0-based file position) + ``offset``."""
    positions = np.flatnonzero(mask)[:limit]
    index = values.index[positions]
    if not show_values:
        return tuple(Example(int(i) + offset) for i in index)
    picked = values.iloc[positions]
    return tuple(Example(int(i) + offset, None if _isna(v) else str(v)) for i, v in zip(index, picked))


def _isna(value: object) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def plural(n: int, noun: str) -> str:
    """``1 row`` / ``12 rows`` with a thousands separator."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
