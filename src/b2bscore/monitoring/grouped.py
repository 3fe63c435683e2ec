"""The default drift tests of every segment from columns prepared once for the whole population.

:func:`b2bscore.monitoring.stats.column_drift` cleans, converts and sorts a column's values again for every segment
(and Evidently's stat tests count and sort them once more). With the default methods -- normed Wasserstein and KS
for numeric columns, Jensen-Shannon and chi-square (z for two values) for categorical ones -- the same figures come
from arrays prepared once: each numeric column cleaned and sorted once (a segment's sorted values are the sorted
column filtered by membership), each categorical column encoded once as integer codes (a segment's value counts are
a ``bincount``). Every figure is computed by the same scipy function on the same values in the same order as
``column_drift`` gives them, so the results are identical to the last bit; other methods go through ``column_drift``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from b2bscore.monitoring.config import DriftTestConfig
from b2bscore.monitoring.stats import CATEGORICAL, ColumnDrift


def supported(config: DriftTestConfig) -> bool:
    """Whether the configured methods are the ones computed here (the defaults)."""
    return (config.numeric_amount, config.numeric_test, config.categorical_amount, config.categorical_test) == (
        "wasserstein", "ks", "jensenshannon", "chisquare")


def last_per_account(positions: np.ndarray, accounts: np.ndarray | None) -> np.ndarray:
    """The positions among ``positions`` that are their account's last row there (``drop_duplicates(keep="last")``)."""
    if accounts is None or len(positions) == 0:
        return positions
    codes = accounts[positions][::-1]
    _, first = np.unique(codes, return_index=True)
    return positions[np.sort(len(positions) - 1 - first)]


def account_codes(frame: pd.DataFrame) -> np.ndarray | None:
    """Integer codes of ``account_id`` (missing ids share one code, as ``drop_duplicates`` treats them)."""
    if "account_id" not in frame.columns:
        return None
    return pd.factorize(frame["account_id"], use_na_sentinel=False)[0]


class _NumericSide:
    def __init__(self, values: pd.Series) -> None:
        self.values = values.astype(np.float64).to_numpy()
        self.finite = np.isfinite(self.values)
        order = np.argsort(self.values, kind="stable")
        self.order, self.sorted, self.sorted_finite = order, self.values[order], self.finite[order]

    def raw(self, positions: np.ndarray) -> np.ndarray:
        values = self.values[positions]
        return values[self.finite[positions]]

    def sorted_of(self, positions: np.ndarray) -> np.ndarray:
        member = np.zeros(len(self.values), dtype=bool)
        member[positions] = True
        return self.sorted[member[self.order] & self.sorted_finite]


class _CategoricalSide:
    def __init__(self, codes: np.ndarray) -> None:
        self.codes = codes

    def of(self, positions: np.ndarray) -> np.ndarray:
        codes = self.codes[positions]
        return codes[codes >= 0]


def _wasserstein(u: np.ndarray, v: np.ndarray) -> float:
    """``scipy.stats.wasserstein_distance(u, v)`` for sorted finite ``u`` and ``v``: scipy's own steps (its
    ``_cdf_distance`` with p = 1) without sorting them again."""
    values = np.concatenate((u, v))
    values.sort(kind="mergesort")
    deltas = np.diff(values)
    u_cdf = u.searchsorted(values[:-1], "right") / u.size
    v_cdf = v.searchsorted(values[:-1], "right") / v.size
    return np.vecdot(np.abs(u_cdf - v_cdf), deltas)  # scipy's np_vecdot on numpy 2


def _ks_asymp(data1: np.ndarray, data2: np.ndarray) -> float:
    """``scipy.stats.ks_2samp(data1, data2, method="asymp").pvalue`` (two-sided) for sorted ``data1`` and ``data2``:
    scipy's own steps without sorting them again or its argument handling."""
    n1, n2 = data1.shape[0], data2.shape[0]
    data_all = np.concatenate([data1, data2])
    cddiffs = np.searchsorted(data1, data_all, side="right") / n1 - np.searchsorted(data2, data_all, side="right") / n2
    min_s = np.clip(-cddiffs[np.argmin(cddiffs)], 0, 1)
    max_s = cddiffs[np.argmax(cddiffs)]
    d = min_s if min_s > max_s else max_s
    m, n = sorted([float(n1), float(n2)], reverse=True)
    return float(np.clip(stats.distributions.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))


def _in_order_of_appearance(codes: np.ndarray) -> np.ndarray:
    distinct, first = np.unique(codes, return_index=True)
    return distinct[np.argsort(first)]


class GroupedDrift:
    """Each column of ``reference`` and ``current`` prepared once; :meth:`drift` tests any segment of rows."""

    def __init__(self, reference: pd.DataFrame, current: pd.DataFrame, kinds: dict[str, str],
                 config: DriftTestConfig) -> None:
        self.config, self.kinds = config, kinds
        self._numeric: dict[str, tuple[_NumericSide, _NumericSide]] = {}
        self._categorical: dict[str, tuple[_CategoricalSide, _CategoricalSide, np.ndarray]] = {}
        self._reference, self._current = reference, current
        self._accounts = (account_codes(reference), account_codes(current))

    def once(self, reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The positions the significance tests use: each account's last row in the segment (the same arrays when
        every row is its account's only one)."""
        test = [last_per_account(p, a) for p, a in zip((reference, current), self._accounts)]
        return (reference if len(test[0]) == len(reference) else test[0],
                current if len(test[1]) == len(current) else test[1])

    def _prepared(self, column: str):
        if self.kinds[column] == CATEGORICAL:
            if column not in self._categorical:
                both = pd.concat([self._reference[column], self._current[column]], ignore_index=True)
                codes, names = pd.factorize(both.astype(object).where(both.notna(), None))
                names = np.asarray([str(v) for v in names], dtype=object)
                split = len(self._reference)
                self._categorical[column] = (_CategoricalSide(codes[:split]), _CategoricalSide(codes[split:]), names)
            return self._categorical[column]
        if column not in self._numeric:
            self._numeric[column] = (_NumericSide(self._reference[column]), _NumericSide(self._current[column]))
        return self._numeric[column]

    def drift(self, column: str, reference: np.ndarray, current: np.ndarray, test_reference: np.ndarray,
              test_current: np.ndarray) -> ColumnDrift | None:
        """As ``column_drift(column, reference.iloc[...], current.iloc[...], test_reference=..., test_current=...,
        kind=kinds[column])`` for these row positions (ascending)."""
        if self.kinds[column] == CATEGORICAL:
            return self._categorical_drift(column, reference, current, test_reference, test_current)
        return self._numeric_drift(column, reference, current, test_reference, test_current)

    def _numeric_drift(self, column, reference, current, test_reference, test_current) -> ColumnDrift | None:
        config = self.config
        ref_side, cur_side = self._prepared(column)
        ref_raw = ref_side.raw(reference)
        if len(ref_raw) == 0 or not cur_side.finite[current].any():
            return None
        test_ref = ref_side.sorted_of(test_reference)
        test_cur = cur_side.sorted_of(test_current)
        if len(test_ref) == 0 or len(test_cur) == 0:
            return None
        ref_sorted = test_ref if test_reference is reference else ref_side.sorted_of(reference)
        cur_sorted = test_cur if test_current is current else cur_side.sorted_of(current)
        threshold = config.numeric_threshold
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            # Evidently's normed Wasserstein: the reference's std (pandas', on the values in row order) as the norm
            norm = max(float(np.std(pd.Series(ref_raw))), 0.001)
            amount = float(_wasserstein(ref_sorted, cur_sorted) / norm)
        if test_ref[0] == test_ref[-1] and test_cur[0] == test_cur[-1] and test_ref[0] == test_cur[0]:
            p_value = 1.0
        else:
            with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                p_value = _ks_asymp(test_ref, test_cur)
            if not math.isfinite(p_value):
                p_value = 1.0
        return ColumnDrift(column=column, kind=self.kinds[column], amount_method=config.numeric_amount, amount=amount,
                           threshold=threshold, test_method=config.numeric_test, p_value=p_value,
                           drifted=bool(amount >= threshold and p_value < config.p_value),
                           reference_rows=len(ref_sorted), current_rows=len(cur_sorted))

    def _categorical_drift(self, column, reference, current, test_reference, test_current) -> ColumnDrift | None:
        config = self.config
        ref_side, cur_side, names = self._prepared(column)
        ref, cur = ref_side.of(reference), cur_side.of(current)
        if len(ref) == 0 or len(cur) == 0:
            return None
        test_ref = ref if test_reference is reference else ref_side.of(test_reference)
        test_cur = cur if test_current is current else cur_side.of(test_current)
        if len(test_ref) == 0 or len(test_cur) == 0:
            return None
        size = len(names)
        distinct = len(np.union1d(test_ref, test_cur))
        test_name = config.categorical_test if distinct > 2 else "z"
        threshold = config.categorical_threshold
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            ref_counts, cur_counts = np.bincount(ref, minlength=size), np.bincount(cur, minlength=size)
            keys = self._keys(ref, cur, names)
            ref_percents = np.array([int(ref_counts[k]) / len(ref) for k in keys])
            cur_percents = np.array([int(cur_counts[k]) / len(cur) for k in keys])
            amount = float(distance.jensenshannon(ref_percents, cur_percents, None))
        if test_ref.min() == test_ref.max() and test_cur.min() == test_cur.max() and test_ref[0] == test_cur[0]:
            p_value = 1.0
        else:
            with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                p_value = float(self._chisquare(test_ref, test_cur, names) if test_name == "chisquare"
                                else self._z(test_ref, test_cur, names))
            if not math.isfinite(p_value):
                p_value = 1.0
        return ColumnDrift(column=column, kind=self.kinds[column], amount_method=config.categorical_amount,
                           amount=amount, threshold=threshold, test_method=test_name, p_value=p_value,
                           drifted=bool(amount >= threshold and p_value < config.p_value),
                           reference_rows=len(ref), current_rows=len(cur))

    @staticmethod
    def _keys(ref: np.ndarray, cur: np.ndarray, names: np.ndarray) -> list[int]:
        """The codes in the order Evidently lists the values: ``list(set(ref.unique()) | set(cur.unique()))`` (a set's
        order follows its values' hashes and insertion order, so the sets are built from the same values in the same
        order, then mapped back to codes)."""
        ref_values = [names[c] for c in _in_order_of_appearance(ref)]
        cur_values = [names[c] for c in _in_order_of_appearance(cur)]
        code_of = {names[c]: c for c in np.union1d(ref, cur)}
        return [code_of[v] for v in list(set(ref_values) | set(cur_values))]

    @staticmethod
    def _chisquare(ref: np.ndarray, cur: np.ndarray, names: np.ndarray) -> float:
        ref_counts, cur_counts = np.bincount(ref, minlength=len(names)), np.bincount(cur, minlength=len(names))
        keys = GroupedDrift._keys(ref, cur, names)
        k_norm = len(cur) / len(ref)
        f_exp = [ref_counts[k] * k_norm for k in keys]
        f_obs = [cur_counts[k] for k in keys]
        return stats.chisquare(f_obs, f_exp)[1]

    @staticmethod
    def _z(ref: np.ndarray, cur: np.ndarray, names: np.ndarray) -> float:
        from evidently.legacy.calculations.stattests.z_stattest import proportions_diff_z_test

        first = min(names[c] for c in np.union1d(ref, cur))
        first_code = int(np.flatnonzero(names == first)[0])
        n1, n2 = len(ref), len(cur)
        p1 = float(n1 - int((ref == first_code).sum())) / n1
        p2 = float(n2 - int((cur == first_code).sum())) / n2
        pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
        return proportions_diff_z_test((p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2)))
