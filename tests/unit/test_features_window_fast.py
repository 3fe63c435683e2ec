"""The window index's sort, time conversion and key lookup equal the plain numpy / pandas operations exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from b2bscore.features._queries import index_codes
from b2bscore.features._window import _TIME_SPAN, stable_argsort, to_seconds


@pytest.mark.parametrize("keys_max", [3, 60_000, 200_000])
@pytest.mark.parametrize("sorted_times", [True, False])
def test_stable_argsort_equals_numpy_stable_sort(keys_max, sorted_times):
    rng = np.random.default_rng(keys_max)
    n = 20_000
    keys = rng.integers(0, keys_max, n)
    times = rng.integers(0, 5_000, n) * 7_919  # many ties within a key
    if sorted_times:
        times = np.sort(times)
    expected = np.argsort(keys * _TIME_SPAN + times, kind="stable")
    assert np.array_equal(stable_argsort(keys, times), expected)


def test_stable_argsort_small_inputs():
    assert stable_argsort(np.array([], dtype=np.int64), np.array([], dtype=np.int64)).tolist() == []
    assert stable_argsort(np.array([5]), np.array([1])).tolist() == [0]


def test_to_seconds_floors_like_numpy():
    values = np.array(["1969-12-31T23:59:59.5", "1900-01-01T00:00:00.000000001", "NaT", "2024-01-01T00:00:00.999999999",
                       "2024-06-30T12:00:00"], dtype="datetime64[ns]")
    expected = values.astype("datetime64[s]").astype(np.int64)
    expected[np.isnat(values)] = np.iinfo(np.int64).min
    assert np.array_equal(to_seconds(values), expected)


def test_index_codes_equal_get_indexer():
    index = pd.Index(np.array([f"acc-{i}" for i in range(50)], dtype=object))
    rng = np.random.default_rng(0)
    values = np.array([f"acc-{i}" for i in rng.integers(0, 60, 1_000)], dtype=object)  # some unknown
    values[::97] = None
    values[::89] = np.nan
    assert np.array_equal(index_codes(index, values), index.get_indexer(values))
    assert np.array_equal(index_codes(index, values[:10]), index.get_indexer(values[:10]))
