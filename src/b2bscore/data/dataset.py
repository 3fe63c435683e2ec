"""The in-memory form of a data directory: one canonical DataFrame per table."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd

from b2bscore.data.contract import SPEND_TABLES, TABLES, TableSpec
from b2bscore.errors import DataError, MissingTableError

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


OPEN_LEAD_DAYS = 90
"""A lead is open for this many days after its creation, unless its opportunity closed."""
_LAST_EVENT_COLUMNS = (("activities", "occurred_at"), ("revenue", "invoice_at"), ("leads", "created_at"),
                       ("opportunities", "created_at"), ("opportunities", "closed_at"), ("technographics", "first_seen_at"))


def frame_digest(frame: pd.DataFrame) -> str:
    """A content digest of one frame (values and column order, not its index)."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def as_of_after(end: pd.Timestamp) -> pd.Timestamp:
    """The default as-of time of data whose last event is at ``end``: midnight after it, so that the last day counts."""
    return pd.Timestamp(end).normalize() + pd.Timedelta(days=1)


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
    campaigns: pd.DataFrame | None = None
    spend: pd.DataFrame | None = None

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

    @property
    def start(self) -> pd.Timestamp:
        """The earliest recorded event of any dated table of accounts (not a campaign's start or a period of spend,
        which may be planned long before); a :class:`DataError` when there is none."""
        stamps = [frame[TABLES[name].time_column].min() for name in self.available
                  if name != "accounts" and name not in SPEND_TABLES and len(frame := self.table(name))]
        stamps = [s for s in stamps if pd.notna(s)]
        if not stamps:
            raise DataError("the data holds no dated events, so nothing can be labelled")
        return pd.Timestamp(min(stamps))

    @property
    def end(self) -> pd.Timestamp:
        """The latest moment the data covers: the last recorded event of any table (closings included)."""
        stamps = []
        for table, column in _LAST_EVENT_COLUMNS:
            frame = self.table(table)
            if frame is not None and len(frame):
                stamps.append(frame[column].max())
        stamps = [s for s in stamps if pd.notna(s)]
        if not stamps:
            raise DataError("the data holds no dated events (activities, revenue, leads or opportunities), so nothing "
                            "can be labelled")
        return pd.Timestamp(max(stamps))

    def resolve_as_of(self, as_of: pd.Timestamp | str | None, *, purpose: str) -> pd.Timestamp:
        """``as_of`` as a timestamp inside the data's range (after its first event, at most a day after its last),
        or midnight after the last event when None; a date outside is a :class:`DataError` naming the range and
        what the date is for (``purpose``, e.g. "segments")."""
        if as_of is None:
            return as_of_after(self.end)
        try:
            moment = pd.Timestamp(as_of)
        except ValueError as exc:
            raise DataError(f"as-of {as_of!r} is not a date; write it as YYYY-MM-DD") from exc
        first, last = self.start, self.end
        if not first < moment <= last + pd.Timedelta(days=1):
            raise DataError(f"as-of {moment.date()} is outside the data, which runs from {first.date()} to "
                            f"{last.date()}; choose a date inside that range ({purpose} then reads only what was "
                            "known before it)")
        return moment

    def digest(self) -> str:
        """A content digest of every table: the same data gives the same digest."""
        parts = [f"{name}:{frame_digest(self.table(name))}" for name in self.available]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]

    def open_leads(self, as_of: pd.Timestamp, days: int = OPEN_LEAD_DAYS) -> pd.DataFrame:
        """Leads created in the ``days`` before ``as_of`` whose opportunity (if any) was not closed by then, as an
        entity frame (``lead_id``, ``as_of``): the leads a rep can still work, scored and tiered on."""
        as_of = pd.Timestamp(as_of)
        if self.leads is None or self.leads.empty:
            return pd.DataFrame({"lead_id": pd.Series(dtype=object), "as_of": pd.Series(dtype="datetime64[ns]")})
        leads = self.leads
        recent = leads[(leads["created_at"] < as_of) & (leads["created_at"] >= as_of - pd.Timedelta(days=days))]
        if self.opportunities is not None and len(self.opportunities):
            opp = self.opportunities
            closed = opp[opp["closed_at"].notna() & (opp["closed_at"] < as_of)]["lead_id"].dropna()
            recent = recent[~recent["lead_id"].isin(closed)]
        return pd.DataFrame({"lead_id": recent["lead_id"].to_numpy(), "as_of": as_of})

    def known_before(self, moment: pd.Timestamp) -> Dataset:
        """The data as it stood just before ``moment``: later rows removed, later closings and
        end dates blanked (an opportunity closed afterwards was still open then). A campaign is known from its
        start with its planned end and cost; spend from the start of its period."""
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
