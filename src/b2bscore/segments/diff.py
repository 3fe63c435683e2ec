"""``diff_assignments``: what changed between two segmentations -- who moved where, and the main reason why.

Cluster labels are learnt afresh at each refresh, so they are not compared; every ruled kind
(tier, value, firmographic, technographic, buying stage) is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from b2bscore.errors import DataError
from b2bscore.segments._changes import main_reasons

DIFF_KINDS: tuple[str, ...] = ("tier", "value_segment", "firmographic_segment", "technographic_segment", "buying_stage")


@dataclass(frozen=True)
class SegmentDiff:
    """``transitions[kind]``: accounts by previous (rows) and current (columns) segment; ``moved``: one row
    per (account, kind) that changed, with ``previous``, ``current`` and the account's main ``reason``."""

    transitions: dict[str, pd.DataFrame]
    moved: pd.DataFrame
    moved_counts: dict[str, int]
    new_accounts: tuple[str, ...]
    removed_accounts: tuple[str, ...]
    compared_accounts: int
    kpi_moves: pd.DataFrame | None = None
    """Segments whose CAC or campaign ROI moved (:func:`diff_kpis`); None when the previous KPIs were not at hand."""

    def to_dict(self) -> dict[str, object]:
        moves = self.kpi_moves
        return {
            "kpi_moves": moves.to_dict(orient="records") if moves is not None else None,
            "compared_accounts": self.compared_accounts,
            "moved_counts": self.moved_counts,
            "transitions": {k: {str(r): {str(c): int(v) for c, v in row.items()} for r, row in t.iterrows()}
                            for k, t in self.transitions.items()},
            "moved": self.moved.to_dict(orient="records"),
            "new_accounts": list(self.new_accounts),
            "removed_accounts": list(self.removed_accounts),
        }

    def render(self, limit: int = 20) -> str:
        """Plain text for a terminal: moves per kind, the tier transition matrix, the main reasons for tier
        moves and the first ``limit`` moved accounts."""
        lines = [f"{self.compared_accounts} accounts compared; {len(self.new_accounts)} new, "
                 f"{len(self.removed_accounts)} removed"]
        lines += [f"  {kind}: {count} moved" for kind, count in self.moved_counts.items()]
        if "tier" in self.transitions:
            lines += ["", "tier transitions (rows: previous, columns: current):", self.transitions["tier"].to_string()]
        reasons = self.main_reasons("tier")
        if reasons:
            lines += ["", "main reasons for tier moves:"] + [f"  {count:>5}  {reason}" for reason, count in reasons]
        shown = self.moved.head(limit)
        if len(shown):
            lines += ["", f"moved accounts (first {len(shown)} of {len(self.moved)}):"]
            lines += [f"  {r.account_id} {r.kind}: {r.previous} -> {r.current} -- {r.reason}" for r in shown.itertuples()]
        if self.kpi_moves is not None:
            lines += ["", _render_kpi_moves(self.kpi_moves, limit)]
        return "\n".join(lines)

    def main_reasons(self, kind: str = "tier", top: int = 5) -> list[tuple[str, int]]:
        """The commonest reasons for moves of ``kind`` with how many accounts each explains, most frequent first;
        figures are left out, so "propensity rose 40% -> 62%" counts as "propensity rose"."""
        reasons = self.moved.loc[self.moved["kind"] == kind, "reason"].astype(str)
        if reasons.empty:
            return []
        gist = reasons.map(_gist)
        counts = gist.value_counts(sort=False).rename_axis("reason").reset_index(name="n")
        counts = counts.sort_values(["n", "reason"], ascending=[False, True], kind="stable").head(top)
        return [(str(r), int(n)) for r, n in zip(counts["reason"], counts["n"])]


def diff_assignments(previous: pd.DataFrame, current: pd.DataFrame, previous_features: pd.DataFrame,
                     current_features: pd.DataFrame, kinds: tuple[str, ...] = DIFF_KINDS) -> SegmentDiff:
    """Compare two assignment frames (and the features each was built from) account by account."""
    for label, frame in (("previous", previous), ("current", current)):
        missing = [c for c in ("account_id", *kinds) if c not in frame.columns]
        if missing:
            raise DataError(f"{label} assignments lack the column(s) {', '.join(missing)}")
    before_ids, after_ids = set(previous["account_id"]), set(current["account_id"])
    common = sorted(before_ids & after_ids)
    before = _snapshot(previous, previous_features, common)
    after = _snapshot(current, current_features, common)
    changed = {kind: before[kind].astype(str).to_numpy() != after[kind].astype(str).to_numpy() for kind in kinds}
    any_moved = np.logical_or.reduce(list(changed.values())) if changed else np.zeros(len(common), dtype=bool)
    reasons = np.full(len(common), "", dtype=object)
    if any_moved.any():
        direction = _tier_direction(before["tier"], after["tier"]) if "tier" in kinds else np.zeros(len(common))
        reasons[any_moved] = main_reasons(before[any_moved].reset_index(drop=True), after[any_moved].reset_index(drop=True),
                                          direction[any_moved])
    moved = pd.concat([
        pd.DataFrame({"account_id": before["account_id"][changed[k]].to_numpy(), "kind": k,
                      "previous": before[k][changed[k]].astype(str).to_numpy(),
                      "current": after[k][changed[k]].astype(str).to_numpy(), "reason": reasons[changed[k]]})
        for k in kinds
    ], ignore_index=True) if kinds else pd.DataFrame(columns=["account_id", "kind", "previous", "current", "reason"])
    transitions = {k: pd.crosstab(before[k].astype(str).rename("previous"), after[k].astype(str).rename("current"))
                   for k in kinds}
    return SegmentDiff(transitions=transitions, moved=moved, moved_counts={k: int(changed[k].sum()) for k in kinds},
                       new_accounts=tuple(sorted(after_ids - before_ids)),
                       removed_accounts=tuple(sorted(before_ids - after_ids)), compared_accounts=len(common))


KPI_MOVES: dict[str, tuple[str, float]] = {"cac": ("relative", 0.2), "campaign_roi": ("absolute", 0.5)}
"""A KPI "moved" when CAC changed by at least 20% of its previous value, or campaign ROI by at least 0.5 (50 points)."""
_KPI_NAMES = {"cac": "CAC", "campaign_roi": "campaign ROI"}
KPI_MOVE_COLUMNS = ("kind", "segment", "kpi", "previous", "current", "change")


def diff_kpis(previous: pd.DataFrame, current: pd.DataFrame) -> pd.DataFrame:
    """The segments (in both KPI tables) whose CAC or campaign ROI moved by at least :data:`KPI_MOVES`, or became
    known or unknown, largest relative move first."""
    rows = []
    on = ["kind", "segment"]
    both = (previous.astype({"segment": str}).merge(current.astype({"segment": str}), on=on, suffixes=("_before", "_now")))
    for kpi, (how, threshold) in KPI_MOVES.items():
        if f"{kpi}_before" not in both.columns or f"{kpi}_now" not in both.columns:
            continue
        before = both[f"{kpi}_before"].to_numpy(dtype=np.float64)
        now = both[f"{kpi}_now"].to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            change = np.where(how == "relative", (now - before) / np.abs(before), now - before)
        moved = np.isfinite(before) != np.isfinite(now)
        moved |= np.isfinite(change) & (np.abs(change) >= threshold)
        for i in np.flatnonzero(moved):
            rows.append((both.at[i, "kind"], both.at[i, "segment"], kpi, before[i], now[i], change[i]))
    frame = pd.DataFrame(rows, columns=list(KPI_MOVE_COLUMNS))
    order = np.argsort(-np.nan_to_num(np.abs(frame["change"].to_numpy(dtype=np.float64)), nan=np.inf), kind="stable")
    return frame.iloc[order].reset_index(drop=True)


def _render_kpi_moves(moves: pd.DataFrame, limit: int) -> str:
    if moves.empty:
        return "CAC and campaign ROI: no segment moved by 20% (CAC) or 0.5 (ROI)"
    lines = [f"segments whose CAC or campaign ROI moved ({len(moves)}; first {min(limit, len(moves))}):"]
    for r in moves.head(limit).itertuples():
        lines.append(f"  {r.kind} / {r.segment}: {_KPI_NAMES[r.kpi]} {_kpi_text(r.kpi, r.previous)} -> "
                     f"{_kpi_text(r.kpi, r.current)}")
    return "\n".join(lines)


def _kpi_text(kpi: str, value: float) -> str:
    if not np.isfinite(value):
        return "unknown"
    return f"${value:,.0f}" if kpi == "cac" else f"{value:+.0%}"


def _gist(reason: str) -> str:
    """A reason without its figures: before -> after values and parenthesised details dropped, counts as N."""
    text = re.sub(r"\s*\(.*?\)", "", reason)
    text = re.sub(r"\s*[\d,.]+%? -> [\d,.]+%?", "", text)
    return re.sub(r"\b\d[\d,.]*\b(?! days)", "N", text).strip(" :-,") or reason


def _snapshot(assignments: pd.DataFrame, features: pd.DataFrame, ids: list) -> pd.DataFrame:
    """Assignments and features of ``ids``, in that order (assignment columns win on a name clash)."""
    if "account_id" not in features.columns:
        raise DataError("features for the diff need an 'account_id' column")
    a = assignments.drop_duplicates("account_id").set_index("account_id").reindex(ids)
    f = features.drop_duplicates("account_id").set_index("account_id").reindex(ids)
    f = f.drop(columns=[c for c in f.columns if c in a.columns])
    return pd.concat([a, f], axis=1).rename_axis("account_id").reset_index()


def _tier_direction(before: pd.Series, after: pd.Series) -> np.ndarray:
    """+1 where an account moved to a better tier ("Tier 1" beats "Tier 2"), -1 to a worse one, 0 otherwise."""
    def rank(tiers: pd.Series) -> np.ndarray:
        return pd.to_numeric(tiers.astype(str).str.extract(r"(\d+)")[0], errors="coerce").to_numpy(dtype=np.float64)

    delta = rank(before) - rank(after)  # Tier 3 -> Tier 1: 3 - 1 = +2 (better)
    return np.nan_to_num(np.sign(delta))
