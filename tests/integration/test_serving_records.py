"""Raw records scored in process with the trained champions (issue 13).

Item 1: each record of a batch scores exactly as if it were sent alone, through the functions the service runs
(``score_leads``, ``score_accounts``) and through the registered pyfunc, whatever account_ids and lead_ids the
records share. Item 2: the README's request scores the same through the API and through ``b2bscore score`` on the
same data written as a data directory.
"""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import copy_home
from hypothesis import HealthCheck, given, settings
from record_batches import conflicting_batches
from typer.testing import CliRunner

from b2bscore.cli import app
from b2bscore.data.contract import TABLES
from b2bscore.data.load import load_dataset
from b2bscore.model.pyfunc import ScoringPyfunc
from b2bscore.records import RECORD_FIELDS, api_records
from b2bscore.serving.api import score_account_records, score_lead_records
from b2bscore.serving.schemas import AccountRecord, LeadRecord
from b2bscore.serving.store import ModelStore

ROOT = Path(__file__).resolve().parents[2]
PROPERTY = settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def world(trained_world):
    """The trained world's data, its champions, and pools of API records: open leads and accounts (customers and
    prospects) at the data's end + 1 second."""
    data = load_dataset(trained_world.world)[0]
    as_of = data.end + pd.Timedelta(seconds=1)
    store = ModelStore(trained_world.home)
    store.refresh()
    leads = data.open_leads(as_of).head(5).merge(data.leads[["lead_id", "account_id"]], on="lead_id")
    customers = data.revenue["account_id"].drop_duplicates().head(3).tolist()
    prospects = data.accounts.loc[~data.accounts["account_id"].isin(data.revenue["account_id"]), "account_id"].head(2)
    accounts = pd.DataFrame({"account_id": customers + prospects.tolist(), "as_of": as_of})
    return store.snapshot.scorers, api_records(data, leads), api_records(data, accounts)


def _rows(frame: pd.DataFrame, columns: tuple[str, ...]) -> list[dict]:
    return frame[[c for c in columns if c in frame.columns]].to_dict("records")


def _assert_same(together: list[dict], alone: list[dict], records: list[dict]) -> None:
    assert len(together) == len(alone) == len(records)
    for position, (mine, single) in enumerate(zip(together, alone)):
        for key, value in single.items():
            if isinstance(value, float) and not math.isnan(value):
                assert mine[key] == pytest.approx(value, rel=1e-12, abs=1e-15), (position, key, mine, single)
            elif pd.isna(value):
                assert pd.isna(mine[key]), (position, key, mine, single)
            else:
                assert mine[key] == value, (position, key, mine, single)


LEAD_OUT = ("lead_id", "account_id", "probability", "score", "grade", "reasons_for", "reasons_against", "model_version")
ACCOUNT_OUT = ("account_id", "is_customer", "churn_probability", "churn_score", "churn_risk_level", "cltv_pred",
               "reasons_for", "reasons_against")


def test_score_leads_scores_each_record_as_if_sent_alone(world):
    scorers, leads, _ = world
    scorer = scorers["conversion"]

    @PROPERTY
    @given(records=conflicting_batches(leads))
    def check(records):
        def scored(batch):
            return _rows(score_lead_records(scorer, [LeadRecord.model_validate(r) for r in batch])[0], LEAD_OUT)

        together = scored(records)
        _assert_same(together, [scored([r])[0] for r in records], records)
        assert [s["lead_id"] for s in together] == [r["lead"]["lead_id"] for r in records]
        assert [s["account_id"] for s in together] == [r["account"]["account_id"] for r in records]

    check()


def test_score_accounts_scores_each_record_as_if_sent_alone(world):
    scorers, _, accounts = world

    @PROPERTY
    @given(records=conflicting_batches(accounts))
    def check(records):
        def scored(batch):
            validated = [AccountRecord.model_validate(r) for r in batch]
            out = score_account_records(scorers["churn"], scorers["cltv"], validated)
            return _rows(out[0], ACCOUNT_OUT)

        together = scored(records)
        _assert_same(together, [scored([r])[0] for r in records], records)
        assert [s["account_id"] for s in together] == [r["account"]["account_id"] for r in records]

    check()


def _frame(records: list[dict]) -> pd.DataFrame:
    """The registered model's input: one JSON text column per record field."""
    return pd.DataFrame([{field: record["as_of"] if field == "as_of"
                          else json.dumps(record.get(field, None if field == "lead" else []))
                          for field in RECORD_FIELDS} for record in records], columns=list(RECORD_FIELDS))


@pytest.mark.parametrize("task", ["conversion", "churn", "cltv"])
def test_the_registered_pyfunc_scores_each_record_as_if_sent_alone(world, task):
    scorers, leads, accounts = world
    pyfunc = ScoringPyfunc()
    pyfunc.model = scorers[task].champion.model
    pool = leads if task == "conversion" else accounts

    @PROPERTY
    @given(records=conflicting_batches(pool))
    def check(records):
        def scored(batch):
            return pyfunc.predict(None, _frame(batch)).drop(columns="as_of").to_dict("records")

        together = scored(records)
        _assert_same(together, [scored([r])[0] for r in records], records)
        key = "lead" if task == "conversion" else "account"
        assert [s[f"{key}_id"] for s in together] == [r[key][f"{key}_id"] for r in records]

    check()


# -- item 2: one canonicalisation for the API and for a data directory ------------------------------------------

def readme_request() -> dict:
    """The lead record of the README's ``curl .../score_leads`` example (Serving section)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = re.search(r"/score_leads -H 'Content-Type: application/json' -d '(.*?)'\n", text, re.DOTALL)
    assert body, "the README's score_leads example was not found"
    (record,) = json.loads(body.group(1))["leads"]
    return record


def _as_data_directory(record: dict, folder: Path) -> Path:
    """The record's data as a data directory (CSV, raw spellings untouched), every contract column present."""
    folder.mkdir(parents=True)
    account_id = record["account"]["account_id"]
    tables = {"accounts": [record["account"]], "leads": [{**record["lead"], "account_id": account_id}]}
    tables["leads"] += [{**lead, "account_id": account_id} for lead in record.get("leads", [])]
    for name in ("technographics", "activities", "intent", "opportunities", "revenue"):
        if record.get(name):
            tables[name] = [{**item, "account_id": account_id} for item in record[name]]
    for name, rows in tables.items():
        pd.DataFrame(rows, columns=list(TABLES[name].column_names)).to_csv(folder / f"{name}.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def scoring_home(trained_world, tmp_path_factory):
    return copy_home(trained_world.home, tmp_path_factory.mktemp("readme") / "home")


def _batch_and_api(record: dict, home, folder: Path) -> tuple[dict, dict]:
    """(the batch file's row, the API's answer) for the lead of ``record``, at its as-of."""
    data_dir = _as_data_directory(record, folder / "data")
    as_of = pd.Timestamp(record["as_of"]).strftime("%Y-%m-%dT%H:%M:%S")
    result = CliRunner().invoke(app, ["score", "--data", str(data_dir), "--out", str(folder / "scores.parquet"),
                                      "--home", str(home.root), "--as-of", as_of, "--no-log"])
    assert result.exit_code == 0, result.output
    batch = pd.read_parquet(folder / "scores-leads.parquet").set_index("lead_id").loc[record["lead"]["lead_id"]]
    store = ModelStore(home)
    store.refresh()
    api = score_lead_records(store.snapshot.scorers["conversion"], [LeadRecord.model_validate(record)])[0].iloc[0]
    return batch.to_dict(), api.to_dict()


def _assert_agree(batch: dict, api: dict) -> None:
    assert api["probability"] == pytest.approx(batch["probability"], rel=1e-9, abs=1e-12), (api, batch)
    for key in ("score", "grade", "reasons_for", "reasons_against", "model_version"):
        assert api[key] == batch[key], (key, api[key], batch[key])


def test_the_readmes_request_scores_the_same_through_the_api_and_the_batch_job(scoring_home, tmp_path):
    record = readme_request()
    assert record["intent"][0]["topic"] == "data integration"  # the raw spelling this test is about
    batch, api = _batch_and_api(record, scoring_home, tmp_path)
    _assert_agree(batch, api)


def test_raw_spellings_score_the_same_through_the_api_and_the_batch_job(scoring_home, tmp_path):
    """Spellings a CRM export carries ("Pricing Page View", "North America") are canonicalised on both paths."""
    record = copy.deepcopy(readme_request())
    record["account"].update(industry="Software", region="North America", ownership="Private")
    record["activities"][0]["activity_type"] = "Pricing Page View"
    record["lead"].update(source="Webinar", buying_role="Decider")
    record["intent"][0]["topic"] = "Data-Integration"
    batch, api = _batch_and_api(record, scoring_home, tmp_path / "raw")
    _assert_agree(batch, api)
    _, canonical = _batch_and_api(readme_request(), scoring_home, tmp_path / "canonical")
    _assert_agree(batch, canonical)
