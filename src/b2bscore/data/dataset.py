"""The in-memory form of a data directory: one canonical DataFrame per table."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd

from b2bscore.data.contract import TABLES, TableSpec
from b2bscore.errors import MissingTableError

_EMPTY_DTYPES = {
    "id": object,
    "string": object,
    "category": object,
    "int": np.float64,
    "float": np.float64,
    "datetime": "datetime64[ns]",
}


def empty_table(name: str) -> pd.DataFrame:
    """A zero-row frame with the canonical columns and dtypes of table ``name``."""
    spec: TableSpec = TABLES[name]
    return pd.DataFrame({c.name: pd.Series([], dtype=_EMPTY_DTYPES[c.kind]) for c in spec.columns})


@dataclass(frozen=True)
class Dataset:
    """All tables of one data directory, in canonical types (see ``b2bscore.data.contract``).

    Only ``accounts`` is mandatory; an absent table is ``None``. Use :meth:`require` to
    state which tables a job needs, and :meth:`table_or_empty` where an absent table
    simply means "no events".
    """

    accounts: pd.DataFrame
    technographics: pd.DataFrame | None = None
    activities: pd.DataFrame | None = None
    intent: pd.DataFrame | None = None
    leads: pd.DataFrame | None = None
    opportunities: pd.DataFrame | None = None
    revenue: pd.DataFrame | None = None

    def table(self, name: str) -> pd.DataFrame | None:
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}; tables are: {', '.join(TABLES)}")
        return getattr(self, name)

    def table_or_empty(self, name: str) -> pd.DataFrame:
        frame = self.table(name)
        return empty_table(name) if frame is None else frame

    @property
    def available(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is not None)

    def require(self, *names: str, purpose: str) -> None:
        """Raise :class:`MissingTableError` naming every table in ``names`` that is absent."""
        missing = [n for n in names if self.table(n) is None]
        if missing:
            raise MissingTableError(
                f"{purpose} needs the table(s) {', '.join(missing)}, which the data does not provide "
                f"(available: {', '.join(self.available)}). Add {' and '.join(f'{m}.csv or {m}.parquet' for m in missing)} "
                "to the data directory; see docs/data-contract.md."
            )

    def known_before(self, moment: pd.Timestamp) -> Dataset:
        """The data as it stood just before ``moment``: later rows removed, later closings and
        end dates blanked (an opportunity closed afterwards was still open then)."""
        moment = pd.Timestamp(moment)
        tables = {}
        for name in self.available:
            if name == "accounts":
                continue
            frame = self.table(name)
            frame = frame[frame[TABLES[name].time_column] < moment]
            if name == "opportunities":
                later = frame["closed_at"] >= moment
                if later.any():
                    frame = frame.copy()
                    frame.loc[later, "closed_at"] = pd.NaT
                    frame.loc[later, "stage"] = "open"
            elif name == "technographics":
                later = frame["last_seen_at"] >= moment
                if later.any():
                    frame = frame.copy()
                    frame.loc[later, "last_seen_at"] = pd.NaT
            tables[name] = frame.reset_index(drop=True)
        return replace(self, **tables)
