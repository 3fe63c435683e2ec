"""The loader's output is pinned: a generated world with planted problems loads to exactly the frames and issues
the loader gave before its speed-up (issue 2), and the fast internals agree with plain pandas.

``tests/data/load_equivalence.json`` was written by the loader as it was before the speed-up; rewrite it with
``python tests/unit/test_load_equivalence.py`` only when a change of the loader's output is intended (the script
needs only ``read_data``, so it also runs against an older checkout put first on ``PYTHONPATH``).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from b2bscore.data.load import read_data
from b2bscore.data.mapping import MappingConfig, TableMapping
from b2bscore.synth import WorldConfig, generate_world

NOW = pd.Timestamp("2024-01-01")
EXPECTED = Path(__file__).parents[1] / "data" / "load_equivalence.json"
VARIANTS = ("parquet", "csv", "mapped")
MAPPING = MappingConfig(
    accounts=TableMapping(file="crm_companies.csv", columns={"Company": "name"}, values={"industry": {"Tech": "software"}}),
    revenue=TableMapping(date_formats={"invoice_at": "%d/%m/%Y"}),
)


def _plant(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Duplicates (exact and of keys), bad types, unknown and unnormalised categories, bad ranges and references."""
    t = {name: frame.copy() for name, frame in tables.items()}
    a = t["accounts"].astype({"employees": object})
    a.loc[7, "account_id"] = a.loc[8, "account_id"]
    a.loc[9, "industry"] = "Financial  Services"
    a.loc[10, "region"] = "Mars"
    a.loc[11, "region"] = " EMEA "
    a.loc[12, "employees"] = "12k"
    a.loc[13, "founded_year"] = 1500
    a.loc[14, "annual_revenue"] = -1.0
    a.loc[15, "industry"] = "Tech"
    a.loc[16, "ownership"] = None
    a["employees"] = a["employees"].astype(str)
    a["segment_code"] = np.arange(len(a)) % 3
    t["accounts"] = pd.concat([a, a.iloc[[3, 5, 5]]], ignore_index=True)

    act = t["activities"].copy()
    act.loc[4, "activity_type"] = "Pricing Page View"
    act.loc[5, "activity_type"] = "webinar_registered"
    act.loc[6, "occurred_at"] = pd.Timestamp("2030-05-01")
    act.loc[7, "account_id"] = "A9999999"
    act.loc[8, "value"] = -3.0
    act.loc[9, "lead_id"] = "L404"
    act.loc[10, "topic"] = "Data-Integration"
    t["activities"] = pd.concat([act, act.iloc[[0, 1, 1, 2]]], ignore_index=True)

    intent = t["intent"].copy()
    intent.loc[1, ["account_id", "week_start", "topic"]] = intent.loc[0, ["account_id", "week_start", "topic"]].to_numpy()
    intent.loc[2, "score"] = 140.0
    t["intent"] = intent

    leads = t["leads"].astype({"created_at": str})
    leads.loc[0, "buying_role"] = "Decider"
    leads.loc[1, "buying_role"] = "boss"
    leads.loc[2, "created_at"] = "yesterday"
    t["leads"] = leads

    opp = t["opportunities"].copy()
    opp.loc[2, "closed_at"] = opp.loc[2, "created_at"] - pd.Timedelta(days=3)
    t["opportunities"] = opp

    tech = t["technographics"].copy()
    tech.loc[0, "category"] = "Cloud Platform"
    t["technographics"] = pd.concat([tech, tech.iloc[[4, 4]]], ignore_index=True)

    rev = t["revenue"].astype({"amount": str})
    rev.loc[0, "amount"] = "1,200"
    rev.loc[1, "amount"] = None
    rev.loc[3, "account_id"] = " "
    t["revenue"] = rev
    return t


def write_planted_world(source: Path, directory: Path, variant: str) -> Path:
    """The generated world in ``source`` with problems planted, written as all Parquet, all CSV, or a CRM-like
    export that needs :data:`MAPPING` (renamed file and column, recoded value, day-first dates)."""
    tables = _plant({p.stem: pd.read_parquet(p) for p in sorted(source.glob("*.parquet"))})
    directory.mkdir(parents=True)
    for name, frame in tables.items():
        if variant == "parquet":
            frame.to_parquet(directory / f"{name}.parquet", index=False)
            continue
        if variant == "mapped" and name == "accounts":
            frame.rename(columns={"name": "Company"}).to_csv(directory / "crm_companies.csv", index=False)
            continue
        if variant == "mapped" and name == "revenue":
            frame = frame.assign(invoice_at=frame["invoice_at"].dt.strftime("%d/%m/%Y"))
        frame.to_csv(directory / f"{name}.csv", index=False)
    return directory


def summarise(directory: Path, variant: str) -> dict:
    """Everything the loader returns, as JSON: every issue in full, and each frame's columns, dtypes and values."""
    frames, report = read_data(directory, MAPPING if variant == "mapped" else None, now=NOW)
    issues = [{"severity": i.severity, "table": i.table, "column": i.column, "problem": i.problem, "count": i.count,
               "message": i.message.replace(str(directory), "<dir>"),
               "examples": [[e.row, e.value] for e in i.examples]} for i in report.issues]
    return {
        "issues": issues,
        "row_counts": report.row_counts,
        "files": {name: Path(path).name for name, path in report.files.items()},
        "frames": {name: _describe(frame) for name, frame in frames.items()},
    }


def _describe(frame: pd.DataFrame) -> dict:
    values = "\n".join(f"{name}|{frame[name].dtype}|{frame[name].tolist()!r}" for name in frame.columns)
    return {"columns": [str(c) for c in frame.columns], "dtypes": [str(d) for d in frame.dtypes],
            "index": type(frame.index).__name__, "rows": len(frame),
            "values_sha256": hashlib.sha256(values.encode()).hexdigest()}


def _generate(directory: Path) -> Path:
    generate_world(WorldConfig(accounts=40, months=6, seed=5), directory)
    return directory


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _generate(tmp_path_factory.mktemp("world"))


@pytest.mark.parametrize("variant", VARIANTS)
def test_planted_world_loads_exactly_as_before(world: Path, tmp_path: Path, variant: str) -> None:
    expected = json.loads(EXPECTED.read_text())[variant]
    got = summarise(write_planted_world(world, tmp_path / variant, variant), variant)
    assert got["issues"] == expected["issues"]
    assert got == expected
    assert len(got["issues"]) > 10  # the planted problems are found


def _reference_duplicated(frame: pd.DataFrame, keep: str | bool) -> np.ndarray:
    return frame.duplicated(keep=keep).to_numpy()


@pytest.mark.parametrize("keep", ["first", False])
def test_duplicated_rows_agrees_with_pandas(keep: str | bool) -> None:
    from b2bscore.data.checks import duplicated_rows

    rng = np.random.default_rng(7)
    n = 5_000
    frame = pd.DataFrame({
        "id": pd.Categorical(rng.choice(["a", "b", "c", None], n)),
        "x": rng.integers(0, 4, n).astype(float),
        "at": pd.to_datetime(rng.integers(0, 3, n), unit="D"),
        "text": rng.choice(np.array(["u", "v", None], dtype=object), n),
    })
    frame.loc[::7, "x"] = np.nan
    frame.loc[::11, "x"] = -0.0
    frame.loc[::13, "at"] = pd.NaT
    got = duplicated_rows(frame, keep=keep)
    np.testing.assert_array_equal(got, _reference_duplicated(frame, keep))
    assert got.any() and not got.all()
    unique = frame.drop_duplicates()
    assert not duplicated_rows(unique, keep=keep).any()


def test_materialise_and_frame_from_columns_match_assignment() -> None:
    from b2bscore.data.canonical import frame_from_columns, materialise

    frame = pd.DataFrame({"a": pd.Categorical(["x", None, "y"]), "b": [1.0, 2.0, np.nan],
                          "c": pd.to_datetime(["2024-01-01", None, "2024-01-03"])}, index=pd.RangeIndex(3))
    expected = frame.copy()
    expected["a"] = pd.Series(["x", None, "y"], dtype=object)
    out = materialise(frame)
    pd.testing.assert_frame_equal(out, expected)
    assert out["a"].tolist() == ["x", None, "y"]
    datetimes = np.array([pd.Timestamp("2024-01-01").to_pydatetime(), None], dtype=object)  # stays object
    built = frame_from_columns([("d", datetimes), ("d", np.array([1, 2]))], frame.iloc[:2])
    assert list(built.columns) == ["d", "d"] and built.dtypes.tolist() == [object, np.int64]


if __name__ == "__main__":  # rewrite the pinned output (see the module docstring)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        source = _generate(Path(tmp) / "world")
        pinned = {v: summarise(write_planted_world(source, Path(tmp) / v, v), v) for v in VARIANTS}
    EXPECTED.write_text(json.dumps(pinned, indent=1, sort_keys=True) + "\n")
    print(f"wrote {EXPECTED}", file=sys.stderr)
