"""Small seeded test worlds written as CSV: one whose only conversion signal is a custom column, one with none.

Both have the same shapes: ``accounts`` (``account_id``, custom ``partner_code``), ``leads`` (``lead_id,
account_id, created_at, source``) and ``opportunities`` (won, lost or open, each after its lead), over
2.5 years with outcomes recorded from the first month; ``truth/leads.parquet`` holds each lead's exact
conversion probability and outcome, as the generator's truth does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

START = pd.Timestamp("2022-01-01")
END = pd.Timestamp("2024-07-01")
HORIZON = pd.Timedelta(days=90)
BASE_RATE = 0.125
"""Share of leads that convert (reach a won opportunity within 90 days of creation)."""
PARTNER_CODES = 500
PARTNER_SD = 0.8
"""Standard deviation of the per-``partner_code`` effect on the conversion logit."""
SOURCE_EFFECT = {"paid_search": 0.0, "organic": 0.2, "events": 0.4, "referral": 0.9, "partner": 0.6,
                 "content_syndication": -0.6}
SOURCE_SHARE = (0.3, 0.25, 0.1, 0.1, 0.1, 0.15)
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"


def custom_signal_world(folder: Path, seed: int, outcomes_from: str | None = None, *, accounts: int = 3000,
                        leads: int = 8000) -> Path:
    """A world whose conversion depends only on ``accounts.partner_code`` (a normal effect per code) and ``source``.

    ``outcomes_from`` (a date) drops the opportunities created before it, as a CRM that records outcomes late.
    """
    return _write_world(Path(folder), seed, outcomes_from, accounts=accounts, leads=leads, signal=True)


def no_signal_world(folder: Path, seed: int, outcomes_from: str | None = None, *, accounts: int = 3000,
                    leads: int = 8000) -> Path:
    """The same shapes as :func:`custom_signal_world`, but every lead converts with probability ``BASE_RATE``."""
    return _write_world(Path(folder), seed, outcomes_from, accounts=accounts, leads=leads, signal=False)


def _write_world(folder: Path, seed: int, outcomes_from: str | None, *, accounts: int, leads: int,
                 signal: bool) -> Path:
    rng = np.random.default_rng(seed)
    account_frame = _accounts(rng, accounts)
    lead_frame = _leads(rng, account_frame["account_id"].to_numpy(), leads)
    code_effect = dict(zip(np.unique(account_frame["partner_code"]),
                           rng.normal(0.0, PARTNER_SD, account_frame["partner_code"].nunique())))
    logit = (lead_frame["account_id"].map(account_frame.set_index("account_id")["partner_code"]).map(code_effect)
             + lead_frame["source"].map(SOURCE_EFFECT)).to_numpy()
    intercept = brentq(lambda b: expit(b + logit).mean() - BASE_RATE, -20.0, 20.0)
    p = expit(intercept + logit) if signal else np.full(len(lead_frame), BASE_RATE)
    converted = rng.random(len(lead_frame)) < p
    opportunities = _opportunities(rng, lead_frame, converted)
    if outcomes_from is not None:
        opportunities = opportunities[opportunities["created_at"] >= pd.Timestamp(outcomes_from)]
    folder.mkdir(parents=True, exist_ok=True)
    account_frame.to_csv(folder / "accounts.csv", index=False)
    lead_frame.to_csv(folder / "leads.csv", index=False, date_format=_TIME_FORMAT)
    opportunities.to_csv(folder / "opportunities.csv", index=False, date_format=_TIME_FORMAT)
    (folder / "truth").mkdir(exist_ok=True)
    lead_frame.assign(p_convert=p, converted=converted).to_parquet(folder / "truth" / "leads.parquet", index=False)
    return folder


def _accounts(rng: np.random.Generator, n: int) -> pd.DataFrame:
    codes = np.char.add("PC", np.char.zfill(rng.choice(10_000, PARTNER_CODES, replace=False).astype(str), 4))
    return pd.DataFrame({"account_id": np.char.add("A", np.char.zfill(np.arange(1, n + 1).astype(str), 6)),
                         "partner_code": rng.choice(codes, n)})


def _leads(rng: np.random.Generator, account_ids: np.ndarray, n: int) -> pd.DataFrame:
    """Leads at random accounts, created uniformly over the period (to the second), ids in creation order."""
    seconds = np.sort(rng.integers(0, int((END - START).total_seconds()), n))
    return pd.DataFrame({"lead_id": np.char.add("L", np.char.zfill(np.arange(1, n + 1).astype(str), 6)),
                         "account_id": rng.choice(account_ids, n),
                         "created_at": START + pd.to_timedelta(seconds, unit="s"),
                         "source": rng.choice(list(SOURCE_EFFECT), n, p=SOURCE_SHARE)})


def _opportunities(rng: np.random.Generator, leads: pd.DataFrame, converted: np.ndarray) -> pd.DataFrame:
    """A won deal closing within 90 days for each converted lead, a lost one for 30% of the others.

    Deals closing after the end are open (no ``closed_at``); deals opened after it are not there yet.
    """
    n = len(leads)
    lost = ~converted & (rng.random(n) < 0.3)
    days_to_open = np.where(converted, rng.uniform(1, 30, n), rng.uniform(3, 40, n))
    days_to_close = np.where(converted, rng.uniform(days_to_open + 1, 89), days_to_open + rng.uniform(14, 120, n))
    amount = np.round(rng.lognormal(np.log(20_000), 0.5, n), 2)
    created = leads["created_at"] + pd.to_timedelta(np.round(days_to_open * 86_400), unit="s")
    closed = leads["created_at"] + pd.to_timedelta(np.round(days_to_close * 86_400), unit="s")
    keep = (converted | lost) & (created < END).to_numpy()
    still_open = (closed >= END).to_numpy()
    frame = pd.DataFrame({"account_id": leads["account_id"], "lead_id": leads["lead_id"], "created_at": created,
                          "closed_at": closed.where(~still_open), "stage": np.where(
                              still_open, "open", np.where(converted, "won", "lost")), "amount": amount})[keep]
    frame = frame.sort_values(["created_at", "lead_id"]).reset_index(drop=True)
    frame.insert(0, "opportunity_id", np.char.add("O", np.char.zfill(np.arange(1, len(frame) + 1).astype(str), 6)))
    return frame
