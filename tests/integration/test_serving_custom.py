"""The customer's own columns of accounts and leads reach the online path: a lead scored through the service's
functions (and the registered pyfunc) from its records scores exactly as ``b2bscore.model.scoring.score`` scores it
from the data directory. Before, the request schema refused the record's extra fields and the records' tables kept
only the contract's columns, so every online score read the partner code as unknown."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from worlds import custom_signal_world

from b2bscore.data.load import load_dataset
from b2bscore.home import ProjectHome
from b2bscore.model.pyfunc import ScoringPyfunc
from b2bscore.model.scoring import score
from b2bscore.records import api_records, dataset_to_records
from b2bscore.serving.api import score_lead_records
from b2bscore.serving.schemas import LeadRecord
from b2bscore.serving.store import ModelStore
from b2bscore.training.config import TrainConfig
from b2bscore.training.train import train

CUSTOM = ("custom_partner_code", "custom_seats", "custom_partner_since", "custom_campaign", "custom_fit_estimate")


def _with_more_columns(folder) -> None:
    """Extra columns of every kind beside the world's partner_code: a whole number and a date of the account, a
    category and a decimal number of the lead (noise, so only their values are compared), written as a CRM
    exports them (text, some cells empty)."""
    rng = np.random.default_rng(11)
    accounts = pd.read_csv(folder / "accounts.csv", dtype=str, keep_default_na=False)
    accounts["seats"] = np.where(rng.random(len(accounts)) < 0.1, "", rng.integers(1, 60, len(accounts)).astype(str))
    days = pd.to_timedelta(rng.integers(0, 3000, len(accounts)), unit="D")
    accounts["partner_since"] = (pd.Timestamp("2015-01-01") + days).strftime("%Y-%m-%d")
    accounts.to_csv(folder / "accounts.csv", index=False)
    leads = pd.read_csv(folder / "leads.csv", dtype=str, keep_default_na=False)
    leads["campaign"] = rng.choice(["spring", "summer", "Autumn Promo", ""], len(leads))
    leads["fit_estimate"] = [f"{v:.12f}" for v in rng.random(len(leads))]
    leads.to_csv(folder / "leads.csv", index=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, _mlflow_template):
    """The custom-signal world (with more extra columns), its conversion champion, and a few open leads."""
    folder = custom_signal_world(tmp_path_factory.mktemp("custom-world"), seed=5, accounts=800, leads=2500)
    _with_more_columns(folder)
    data = load_dataset(folder)[0]
    home = ProjectHome(tmp_path_factory.mktemp("custom-home"))
    shutil.copy(_mlflow_template, home.root / "mlflow.db")
    config = TrainConfig.model_validate({"conversion": {"min_positives": 10}, "candidates": {"confidence": 0.6}})
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        train("conversion", data, config=config, home=home)
        store = ModelStore(home)
        store.refresh()
    as_of = data.end + pd.Timedelta(seconds=1)
    leads = data.open_leads(as_of).head(12).merge(data.leads[["lead_id", "account_id"]], on="lead_id")
    return data, store.snapshot.scorers["conversion"], leads[["lead_id", "account_id", "as_of"]]


def test_the_champion_reads_the_customer_columns(trained):
    _, scorer, _ = trained
    assert set(CUSTOM) <= set(scorer.champion.model.feature_names_in_), scorer.champion.model.feature_names_in_


def test_leads_score_the_same_through_the_service_as_from_the_data(trained):
    data, scorer, leads = trained
    batch, batch_features = score(scorer.champion.model, data, leads[["lead_id", "as_of"]])
    records = [LeadRecord.model_validate(r) for r in api_records(data, leads)]
    assert records[0].account.custom["partner_code"] == data.accounts.set_index("account_id").loc[
        leads["account_id"].iloc[0], "partner_code"]
    online, online_features = score_lead_records(scorer, records)
    assert online["lead_id"].tolist() == batch["lead_id"].tolist()
    pd.testing.assert_frame_equal(online_features[list(CUSTOM)], batch_features[list(CUSTOM)], check_dtype=False)
    np.testing.assert_allclose(online["probability"], batch["probability"], rtol=0, atol=1e-9)
    assert online_features["custom_partner_code"].notna().all() and batch_features["custom_seats"].notna().any()


def _as_json_numbers(record: dict) -> dict:
    """``record`` with its customer fields that are numbers in text sent as JSON numbers (12, 0.416255985528)."""
    for part in (record["account"], record["lead"], *record.get("leads", [])):
        for name, value in (part.get("custom") or {}).items():
            if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value):
                part["custom"][name] = float(value) if "." in value else int(value)
    return record


def test_numbers_sent_as_json_numbers_score_as_the_csv_text(trained):
    data, scorer, leads = trained
    batch, batch_features = score(scorer.champion.model, data, leads[["lead_id", "as_of"]])
    records = [_as_json_numbers(r) for r in api_records(data, leads)]
    assert any(isinstance(r["lead"]["custom"]["fit_estimate"], float) for r in records)
    assert any(isinstance(r["account"]["custom"].get("seats"), int) for r in records)
    online, online_features = score_lead_records(scorer, [LeadRecord.model_validate(r) for r in records])
    pd.testing.assert_frame_equal(online_features[list(CUSTOM)], batch_features[list(CUSTOM)], check_dtype=False)
    np.testing.assert_allclose(online["probability"], batch["probability"], rtol=0, atol=1e-9)


def test_the_partner_code_matters_to_these_leads(trained):
    """The comparison above can fail: without their customer fields the same records score differently."""
    data, scorer, leads = trained
    batch, _ = score(scorer.champion.model, data, leads[["lead_id", "as_of"]])
    records = api_records(data, leads)
    for record in records:
        record["account"].pop("custom", None)
        record["lead"].pop("custom", None)
    blind, _ = score_lead_records(scorer, [LeadRecord.model_validate(r) for r in records])
    assert np.abs(blind["probability"].to_numpy() - batch["probability"].to_numpy()).max() > 1e-3


def test_the_registered_pyfunc_reads_the_customer_columns(trained):
    data, scorer, leads = trained
    batch, _ = score(scorer.champion.model, data, leads[["lead_id", "as_of"]])
    pyfunc = ScoringPyfunc()
    pyfunc.model = scorer.champion.model
    frame = dataset_to_records(data, leads)
    assert "partner_code" in json.loads(frame["account"].iloc[0])["custom"]
    np.testing.assert_allclose(pyfunc.predict(None, frame)["probability"], batch["probability"], rtol=0, atol=1e-9)
