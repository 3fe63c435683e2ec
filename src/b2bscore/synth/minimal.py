"""``generate_minimal``: the same world as ``generate_world``, exported as a small CRM holds it.

Same seed, same accounts, leads and outcomes, and the same ``truth/``; but only the columns a
small CRM has, a few custom columns derived from the world's latent state (so their signal is
real), and one leaky column (``leads.lead_status``, filled in after the outcome).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from scipy.special import ndtr

from b2bscore.data.contract import FILE_SUFFIXES, TABLES
from b2bscore.errors import B2BScoreError
from b2bscore.home import Progress, no_progress
from b2bscore.synth.config import WorldConfig
from b2bscore.synth.funnel import HORIZON_DAYS
from b2bscore.synth.params import INDUSTRIES, SEGMENT_NAMES, SEGMENTS, SOURCES, TOPICS
from b2bscore.synth.world import WorldSummary, generate_world
from b2bscore.synth.write import write_arrow

MINIMAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("account_id", "name", "sic_code", "company_size", "first_contact_date"),
    "leads": ("lead_id", "account_id", "created_at", "source", "job_title", "landing_page_id", "lead_status"),
    "opportunities": TABLES["opportunities"].column_names,
    "revenue": TABLES["revenue"].column_names,
    "activities": ("account_id", "occurred_at", "activity_type", "topic"),
}
"""The tables of a minimal export and their columns, in file order."""
CUSTOM_COLUMNS: dict[str, tuple[str, ...]] = {
    "accounts": ("sic_code", "company_size", "first_contact_date"),
    "leads": ("landing_page_id", "lead_status"),
}
LEAKY_COLUMNS: dict[str, tuple[str, ...]] = {"leads": ("lead_status",)}
"""Columns filled in after the outcome they would predict; a model must not learn from them."""
LEAD_STATUSES: tuple[str, ...] = ("converted", "disqualified", "nurture", "working")
COMPANY_SIZES: tuple[str, ...] = ("1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001-10000",
                                  "10001+")

_SIZE_BOUNDS = (10, 50, 200, 500, 1000, 5000, 10000)  # upper bounds of COMPANY_SIZES
_SIC_RANGES: dict[str, tuple[int, int]] = {
    "software": (7200, 7500), "financial_services": (6000, 6800), "manufacturing": (2000, 4000),
    "healthcare": (8000, 8100), "retail": (5200, 6000), "professional_services": (8600, 8900),
    "education": (8200, 8300), "logistics": (4000, 4800),
}
_SIC_CODES = 480  # about this many codes in the catalogue
_SIC_TIERS = (50, 1000)  # employees: under 50, 50 to 999, 1000 and more
_SIC_NOISE = 0.1  # share of accounts filed under a random code of their industry
_PAGE_WINDOW = pd.Timedelta(days=14)
_PAGE_VARIANTS = 2  # A/B variants of each page: they carry no signal
_STATUS_ERRORS = 0.005  # share of decided leads a sales rep filed under the wrong status
_CATALOGUE_SEED = 14  # SIC codes and page ids are the same in every world, like a real catalogue
_STREAM = 0x6D696E  # entropy added to the world's seed for the export's own draws
_CSV_TYPES = {"created_at": pa.timestamp("s"), "closed_at": pa.timestamp("s"), "occurred_at": pa.timestamp("s"),
              "employees": pa.int64()}  # other columns read from a CSV table are text


def generate_minimal(config: WorldConfig, out_dir: Path, progress: Progress = no_progress) -> WorldSummary:
    """Generate the world of ``config`` and write its minimal export (and the full world's ``truth/``) to ``out_dir``.

    ``truth/minimal.json`` lists the export's tables, custom columns and leaky columns.
    """
    out_dir = Path(out_dir)
    _refuse_full_tables(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".full-world-") as tmp:
        full = generate_world(config, Path(tmp), progress=_scaled(progress, 0.8))
        progress("minimal export", 0.8)
        counts = _write_tables(Path(tmp), out_dir, config, full)
        progress("move truth", 0.95)
        (out_dir / "truth").mkdir(exist_ok=True)
        for path in sorted((Path(tmp) / "truth").iterdir()):
            os.replace(path, out_dir / "truth" / path.name)
    record = {"export": "minimal", "columns": MINIMAL_COLUMNS, "custom_columns": CUSTOM_COLUMNS,
              "leaky_columns": LEAKY_COLUMNS, "row_counts": counts}
    (out_dir / "truth" / "minimal.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    progress("done", 1.0)
    return WorldSummary(out_dir=out_dir, row_counts=counts, start=full.start, end=full.end, drift=full.drift,
                        truth_row_counts=full.truth_row_counts)


def _refuse_full_tables(out_dir: Path) -> None:
    """A leftover full-world table would silently turn the minimal world back into a full one."""
    for name in set(TABLES) - set(MINIMAL_COLUMNS):
        for suffix in FILE_SUFFIXES:
            if (out_dir / f"{name}{suffix}").exists():
                raise B2BScoreError(
                    f"Folder {out_dir} already holds {name}{suffix}, a table the minimal export does not write; "
                    "choose an empty folder or delete that file first.")


def _scaled(progress: Progress, upto: float) -> Progress:
    return lambda step, fraction: progress("simulated" if step == "done" else step, upto * fraction)


def _write_tables(full_dir: Path, out_dir: Path, config: WorldConfig, full: WorldSummary) -> dict[str, int]:
    """Write the minimal tables from the full world in ``full_dir``; opportunities and revenue are copied as is."""
    rng = np.random.default_rng([config.seed, _STREAM])
    suffix = f".{config.file_format}"
    for name in ("opportunities", "revenue"):
        shutil.copyfile(full_dir / f"{name}{suffix}", out_dir / f"{name}{suffix}")
    activities = _read(full_dir / f"activities{suffix}", MINIMAL_COLUMNS["activities"])
    write_arrow(activities, out_dir / f"activities{suffix}")
    accounts = _read(full_dir / f"accounts{suffix}", ("account_id", "name", "industry", "employees")).to_pandas()
    segments = pd.read_parquet(full_dir / "truth" / "segments.parquet")
    accounts = _minimal_accounts(rng, accounts, segments, pd.Timestamp(full.start))
    write_arrow(accounts, out_dir / f"accounts{suffix}")
    leads = _read(full_dir / f"leads{suffix}", MINIMAL_COLUMNS["leads"][:5]).to_pandas()
    opportunities = _read(full_dir / f"opportunities{suffix}", ("lead_id", "closed_at", "stage")).to_pandas()
    truth = pd.read_parquet(full_dir / "truth" / "leads.parquet", columns=["lead_id", "converted"])
    leads = _minimal_leads(rng, leads, activities.to_pandas(), opportunities, truth, pd.Timestamp(full.end))
    write_arrow(leads, out_dir / f"leads{suffix}")
    counts = {"accounts": accounts.num_rows, "leads": leads.num_rows, "activities": activities.num_rows}
    counts |= {name: full.row_counts[name] for name in ("opportunities", "revenue")}
    return {name: counts[name] for name in MINIMAL_COLUMNS}


def _read(path: Path, columns: tuple[str, ...]) -> pa.Table:
    """``columns`` of a table the generator wrote (Parquet or CSV), timestamps as ``timestamp[ns]``."""
    if path.suffix == ".parquet":
        table = pq.read_table(path, columns=list(columns))
    else:
        types = {c: _CSV_TYPES.get(c, pa.string()) for c in columns}
        table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(
            include_columns=list(columns), column_types=types, strings_can_be_null=True))
    return table.cast(pa.schema([pa.field(f.name, pa.timestamp("ns") if pa.types.is_timestamp(f.type) else f.type)
                                 for f in table.schema]))


def _minimal_accounts(rng: np.random.Generator, accounts: pd.DataFrame, segments: pd.DataFrame,
                      start: pd.Timestamp) -> pa.Table:
    """Accounts with ``name`` and the custom ``sic_code``, ``company_size`` and ``first_contact_date``.

    ``accounts`` holds the full world's ``account_id, name, industry, employees``; ``segments`` is
    ``truth/segments.parquet`` (planted segment and latent fit, in account order).
    """
    if not accounts["account_id"].equals(segments["account_id"]):
        raise ValueError("accounts and truth/segments.parquet list different accounts")
    segment = pd.Categorical(segments["planted_segment"], categories=SEGMENT_NAMES).codes
    industry = pd.Categorical(accounts["industry"], categories=INDUSTRIES).codes
    employees = accounts["employees"].to_numpy(dtype=np.int64)
    size = np.searchsorted(_SIZE_BOUNDS, employees, side="left")
    # known for longer when the account fits: marketing targets its ideal customers first
    years = np.clip(rng.exponential(1.0 + 3.0 * segments["fit"].to_numpy()), 0.05, 8.0)
    first = (start - pd.to_timedelta(np.floor(years * 365.25), unit="D")).to_numpy().astype("datetime64[D]")
    return pa.table({
        "account_id": pa.array(accounts["account_id"], pa.string()),
        "name": pa.array(accounts["name"], pa.string()),
        "sic_code": pa.array(_sic_codes(rng, segment, industry, employees), pa.string()),
        "company_size": pa.array(np.array(COMPANY_SIZES, dtype=object)[size], pa.string()),
        "first_contact_date": pa.array(first, pa.date32(), mask=rng.random(len(first)) < 0.03),
    })


@functools.cache
def _sic_catalogue() -> dict[tuple[int, int, int], np.ndarray]:
    """Four-digit SIC codes of each (segment, industry, size tier), disjoint, sized by the cell's share of accounts."""
    rng = np.random.default_rng(_CATALOGUE_SEED)
    bounds = np.log(np.array(_SIC_TIERS) - 0.5)
    catalogue: dict[tuple[int, int, int], np.ndarray] = {}
    for i, industry in enumerate(INDUSTRIES):
        shares = {}
        for s, seg in enumerate(SEGMENTS):
            tiers = np.diff(np.concatenate([[0.0], ndtr((bounds - seg.log_employees_mean) / seg.log_employees_sd),
                                            [1.0]]))
            shares |= {(s, i, t): seg.share * seg.industries.get(industry, 0.0) * p for t, p in enumerate(tiers)}
        sizes = {cell: max(1, round(_SIC_CODES * share)) for cell, share in shares.items() if share > 0}
        lo, hi = _SIC_RANGES[industry]
        codes = rng.choice(np.arange(lo, hi), size=sum(sizes.values()), replace=False).astype(str)
        ends = np.cumsum(list(sizes.values()))
        catalogue |= dict(zip(sizes, np.split(codes, ends[:-1])))
    return catalogue


def _sic_codes(rng: np.random.Generator, segment: np.ndarray, industry: np.ndarray,
               employees: np.ndarray) -> np.ndarray:
    """A code from each account's (segment, industry, size tier) cell; a few get any code of their industry."""
    catalogue = _sic_catalogue()
    tier = np.searchsorted(_SIC_TIERS, employees, side="right")
    pick, noisy = rng.random(len(segment)), rng.random(len(segment)) < _SIC_NOISE
    out = np.empty(len(segment), dtype=object)
    for (s, i, t), codes in catalogue.items():
        cell = (segment == s) & (industry == i) & (tier == t)
        out[cell] = codes[(pick[cell] * len(codes)).astype(np.int64)]
    for i in range(len(INDUSTRIES)):
        pool = np.concatenate([codes for (_, ci, _), codes in catalogue.items() if ci == i])
        cell = noisy & (industry == i)
        out[cell] = pool[(pick[cell] * len(pool)).astype(np.int64)]
    if any(code is None for code in out):
        raise ValueError("an account's (segment, industry) is missing from the SIC catalogue")
    return out


def _minimal_leads(rng: np.random.Generator, leads: pd.DataFrame, activities: pd.DataFrame,
                   opportunities: pd.DataFrame, truth: pd.DataFrame, end: pd.Timestamp) -> pa.Table:
    """Leads with the custom ``landing_page_id`` and the leaky ``lead_status`` (as the CRM shows it at ``end``)."""
    converted = leads[["lead_id"]].merge(truth, on="lead_id", how="left", validate="1:1")["converted"]
    if converted.isna().any():
        raise ValueError("truth/leads.parquet misses leads of the leads table")
    frame = leads.assign(landing_page_id=_landing_pages(rng, leads, activities),
                         lead_status=_lead_statuses(rng, leads, converted.to_numpy(dtype=bool), opportunities, end))
    return pa.Table.from_pandas(frame[list(MINIMAL_COLUMNS["leads"])], preserve_index=False)


@functools.cache
def _page_catalogue() -> dict[tuple[str, str, int], str]:
    """Page id (``lp_7f3a``) of each (source, page kind, variant)."""
    kinds = ("home", "blog", *(f"content_{t}" for t in TOPICS), "webinar", "pricing", "demo")
    keys = [(s, k, v) for s in SOURCES for k in kinds for v in range(_PAGE_VARIANTS)]
    ids = np.random.default_rng(_CATALOGUE_SEED).choice(1 << 16, size=len(keys), replace=False)
    return {key: f"lp_{i:04x}" for key, i in zip(keys, ids)}


def _landing_pages(rng: np.random.Generator, leads: pd.DataFrame, activities: pd.DataFrame) -> np.ndarray:
    """The page each lead signed up on: its source's page for what the account did in the 14 days before.

    Demo request beats pricing page, webinar, content download (of its topic) and web visit; none
    means the home page. Those behaviours burst while an account is in market, which drives conversion.
    """
    kind = np.full(len(leads), "home", dtype=object)
    for activity_type, page in (("web_visit", "blog"), ("content_download", "content_"),
                                ("webinar_attended", "webinar"), ("pricing_page_view", "pricing"),
                                ("demo_request", "demo")):
        seen, topic = _recent(leads, activities[activities["activity_type"] == activity_type])
        if page == "content_":
            seen &= topic.notna().to_numpy()
            kind[seen] = "content_" + topic[seen].astype(str).to_numpy(dtype=object)
        else:
            kind[seen] = page
    variant = rng.integers(0, _PAGE_VARIANTS, len(leads))
    catalogue = _page_catalogue()
    return np.array([catalogue[key] for key in zip(leads["source"], kind, variant)], dtype=object)


def _recent(leads: pd.DataFrame, events: pd.DataFrame) -> tuple[np.ndarray, pd.Series]:
    """Whether each lead's account had an event in the window before its creation, and that event's topic."""
    left = leads[["account_id", "created_at"]].reset_index(drop=True).reset_index().sort_values("created_at")
    right = events[["account_id", "occurred_at", "topic"]].sort_values("occurred_at")
    found = pd.merge_asof(left, right, left_on="created_at", right_on="occurred_at", by="account_id",
                          direction="backward", tolerance=_PAGE_WINDOW, allow_exact_matches=False)
    found = found.sort_values("index")
    return found["occurred_at"].notna().to_numpy(), found["topic"].reset_index(drop=True)


def _lead_statuses(rng: np.random.Generator, leads: pd.DataFrame, converted: np.ndarray,
                   opportunities: pd.DataFrame, end: pd.Timestamp) -> np.ndarray:
    """The status a CRM shows at ``end``: ``converted`` once the won deal closed, ``disqualified`` after a lost deal,
    ``disqualified`` (40%) or ``nurture`` once 90 days passed without a win, else ``working``; 0.5% of the decided
    ones are filed wrongly (converted as nurture, the others as converted)."""
    closed = opportunities[opportunities["closed_at"].notna()]
    won = leads["lead_id"].isin(closed.loc[closed["stage"] == "won", "lead_id"]).to_numpy()
    lost = leads["lead_id"].isin(closed.loc[closed["stage"] == "lost", "lead_id"]).to_numpy()
    window_closed = (leads["created_at"] + pd.Timedelta(days=HORIZON_DAYS) <= end).to_numpy()
    u, error = rng.random(len(leads)), rng.random(len(leads)) < _STATUS_ERRORS
    status = np.select([converted & won, lost, window_closed & (u < 0.4), window_closed],
                       ["converted", "disqualified", "disqualified", "nurture"], default="working").astype(object)
    decided = status != "working"
    status[error & decided] = np.where(status[error & decided] == "converted", "nurture", "converted")
    return status
