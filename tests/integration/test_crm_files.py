"""The files sales ops import into a CRM (``b2bscore score``'s two CSV files and ``b2bscore segment``'s ranked list),
read as a CRM import reads them: Python's csv module, one header row, text in every cell."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import copy_home

from b2bscore.data.load import load_dataset
from b2bscore.segments.job import run_segment_job
from b2bscore.serving.batch import score_dataset

INTEGER = re.compile(r"^-?\d+$")
THREE_DECIMALS = re.compile(r"^-?\d+(\.\d{1,3})?$")
NEAR_EDGE = re.compile(r"^0\.(000[1-9]|999[0-9])$")  # a chance inside (0, 1) is never shown as 0 or 1
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
STATUSES = {"customer", "former customer", "prospect"}

# column -> the promised rounding (0: a whole number, 3: at most 3 decimals)
NUMBERS = {
    "leads": {"probability": 3, "score": 0},
    "accounts": {"propensity_probability": 3, "propensity_score": 0, "churn_probability": 3, "churn_score": 0,
                 "cltv_pred": 0},
    "ranked": {"rank": 0, "fit": 0, "propensity": 3, "value": 0, "priority": 0, "churn_risk": 3, "p_convert": 3},
}
IDS = {"leads": "lead_id", "accounts": "account_id", "ranked": "account_id"}


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    assert len(set(header)) == len(header), f"{path.name}: repeated column names {header}"
    assert all(len(row) == len(header) for row in body), f"{path.name}: a row's width differs from the header's"
    assert header not in body, f"{path.name}: the header row is repeated"
    return header, [dict(zip(header, row)) for row in body]


@pytest.fixture(scope="module")
def crm(trained_world, tmp_path_factory):
    root = tmp_path_factory.mktemp("crm")
    home = copy_home(trained_world.home, root / "home")
    job = run_segment_job(trained_world.world, home=home)
    data, _ = load_dataset(trained_world.world)
    batch = score_dataset(data, root / "scores.csv", home=home, log_predictions=False)
    assert batch.leads > 0 and batch.accounts == len(data.accounts)
    names = dict(zip(data.accounts["account_id"].astype(str), data.accounts["name"].astype(str)))
    files = {"leads": batch.leads_path, "accounts": batch.accounts_path, "ranked": job.ranked_path}
    return SimpleNamespace(files={kind: _read(path) for kind, path in files.items()}, names=names, job=job)


@pytest.mark.parametrize("kind", ["leads", "accounts", "ranked"])
def test_one_row_per_id_with_its_company_name(crm, kind):
    header, rows = crm.files[kind]
    ids = [row[IDS[kind]] for row in rows]
    assert rows and len(set(ids)) == len(ids)
    assert "company" in header and "name" not in header
    assert all(row["company"] and row["company"] == crm.names[row["account_id"]] for row in rows)


@pytest.mark.parametrize("kind", ["leads", "accounts", "ranked"])
def test_numbers_carry_the_promised_rounding(crm, kind):
    header, rows = crm.files[kind]
    for column, decimals in NUMBERS[kind].items():
        assert column in header, f"{kind}: no {column} column"
        values = [row[column] for row in rows if row[column] != ""]
        assert values, f"{kind}: {column} is empty everywhere"
        pattern = INTEGER if decimals == 0 else THREE_DECIMALS
        bad = [v for v in values if not pattern.match(v) and not (decimals == 3 and NEAR_EDGE.match(v))]
        assert not bad, f"{kind}: {column} has {bad[:3]}"


CHANCES = {"leads": ("probability",), "accounts": ("propensity_probability", "churn_probability"),
           "ranked": ("propensity", "churn_risk", "p_convert")}
SCORES = {"leads": ("score",), "accounts": ("propensity_score", "churn_score"), "ranked": ()}


@pytest.mark.parametrize("kind", ["leads", "accounts", "ranked"])
def test_no_chance_reads_as_none_or_certain(crm, kind):
    """Issue 21: a rep reads 0 as "never call" -- no model probability, no proxy (the ranked list's former customers,
    whom no model scores) and no 0-100 score says 0 or 1 (0 or 100)."""
    _, rows = crm.files[kind]
    for column in CHANCES[kind]:
        shown = [float(row[column]) for row in rows if row[column] != ""]
        assert shown and all(0 < v < 1 for v in shown), f"{kind}: {column} has {sorted(set(shown))[:3]}"
    for column in SCORES[kind]:
        scores = [int(row[column]) for row in rows if row[column] != ""]
        assert scores and all(1 <= v <= 99 for v in scores), f"{kind}: {column} has {min(scores)}..{max(scores)}"


def test_ranked_list_has_no_duplicate_scores(crm):
    header, _ = crm.files["ranked"]
    assert {"churn_risk", "value"} <= set(header) and not {"p_churn", "cltv_pred"} & set(header)


@pytest.mark.parametrize("kind", ["leads", "accounts"])
def test_as_of_is_the_date_the_segment_summary_shows(crm, kind):
    _, rows = crm.files[kind]
    shown = f"{crm.job.as_of:%Y-%m-%d}"
    assert f"as of {shown}" in crm.job.summary_path.read_text()
    assert all(DATE.match(row["as_of"]) for row in rows)
    assert {row["as_of"] for row in rows} == {shown}


def test_every_file_lists_reasons_as_plain_text_joined_by_semicolons(crm):
    for kind, (header, rows) in crm.files.items():
        columns = [c for c in header if c.startswith("reasons")]
        assert columns, f"{kind}: no reasons"
        values = [row[c] for row in rows for c in columns if row[c]]
        assert values, f"{kind}: every reason is empty"
        assert not [v for v in values if v.startswith("[") or v.startswith('"') or "\", \"" in v], kind
    joined = [row[c] for _, rows in crm.files.values() for row in rows for c in row if c.startswith("reasons")]
    assert any("; " in v for v in joined)  # several reasons: one "; "-joined cell


@pytest.mark.parametrize("kind", ["accounts", "ranked"])
def test_status_is_customer_former_customer_or_prospect(crm, kind):
    header, rows = crm.files[kind]
    assert "status" in header and {row["status"] for row in rows} <= STATUSES
    if kind == "accounts":
        for row in rows:
            expected = ("customer" if row["is_customer"] == "True" else
                        "prospect" if row["is_prospect"] == "True" else "former customer")
            assert row["status"] == expected


def test_scores_and_ranked_list_agree_on_status(crm):
    scored = {row["account_id"]: row["status"] for row in crm.files["accounts"][1]}
    ranked = {row["account_id"]: row["status"] for row in crm.files["ranked"][1]}
    assert scored == ranked
