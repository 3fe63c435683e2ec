"""The segmentation computation on a small generated world, and the folder it is written to: complete folders,
refresh diffs, and nothing written when it fails."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from factories import tiny_dataset

from b2bscore.data.load import load_dataset
from b2bscore.errors import ConfigError, DataError
from b2bscore.segments import SegmentConfig, segment_accounts
from b2bscore.segments import store as store_module
from b2bscore.segments.config import ClusterConfig, Condition, RuleList, SegmentRule
from b2bscore.segments.store import FILES, read_segmentation, write_segmentation
from b2bscore.synth import WorldConfig, generate_world

CONFIG = SegmentConfig(clustering=ClusterConfig(k_max=3, n_init=1))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    generate_world(WorldConfig(accounts=60, months=6, seed=3), root)
    return load_dataset(root, now=pd.Timestamp("2023-07-01"))[0]


@pytest.fixture(scope="module")
def first(world):
    return segment_accounts(world, "2023-05-01", CONFIG, None)


@pytest.fixture(scope="module")
def first_dir(first, tmp_path_factory):
    out = tmp_path_factory.mktemp("segments") / "2023-05-01"
    write_segmentation(first, out)
    return out


def test_writes_a_complete_version_in_fallback_mode(first, first_dir):
    assert sorted(p.name for p in first_dir.iterdir()) == sorted(FILES)
    assert first.fallback and first.diff is None
    manifest = json.loads((first_dir / "segmentation.json").read_text())
    assert manifest == json.loads(json.dumps(first.manifest, default=str)) and manifest["previous"] is None
    assert manifest["fallback"] is True and "fell back to fit and behaviour only" in manifest["notes"][0]
    assert manifest["kpi_window"] == {"start": "2022-05-01T00:00:00", "end": "2023-05-01T00:00:00"}
    assignments = pd.read_parquet(first_dir / "assignments.parquet")
    assert len(assignments) == 60 and assignments["account_id"].is_unique
    assert set(assignments["tier"]) <= {"Tier 1", "Tier 2", "Tier 3"}
    html = (first_dir / "summary.html").read_text()
    # a chart per kind, and one of CAC against predicted value per tier, value segment, buying stage and cluster
    assert html.count("data:image/png;base64,") == 6 + 4 and "fell back to fit and behaviour only" in html
    assert "Cost to acquire a customer against its value" in html


def test_ranked_list_is_sorted_by_tier_then_priority(first_dir):
    ranked = pd.read_csv(first_dir / "ranked_accounts.csv")
    assert ranked["rank"].tolist() == list(range(1, 61))
    tier_rank = ranked["tier"].map({"Tier 1": 1, "Tier 2": 2, "Tier 3": 3})
    assert tier_rank.is_monotonic_increasing
    for _, group in ranked.groupby("tier"):
        assert group["priority"].is_monotonic_decreasing
    assert ranked["company"].notna().all() and ranked["reasons"].notna().all()


def test_a_refresh_reports_what_moved(world, first_dir):
    second = segment_accounts(world, "2023-06-01", CONFIG, None, previous=read_segmentation(first_dir))
    assert second.manifest["previous"] == str(first_dir)
    write_segmentation(second, first_dir.parent / "2023-06-01")
    diff = json.loads((first_dir.parent / "2023-06-01" / "diff.json").read_text())
    assert diff["compared_accounts"] == 60
    assert sum(diff["transitions"]["tier"][a][b] for a in diff["transitions"]["tier"]
               for b in diff["transitions"]["tier"][a]) == 60
    assert len(second.diff.moved) == sum(second.diff.moved_counts.values())
    assert second.diff.moved["reason"].str.len().gt(0).all()


def test_an_existing_folder_is_never_overwritten(first, first_dir):
    before = (first_dir / "assignments.parquet").read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        write_segmentation(first, first_dir)
    assert (first_dir / "assignments.parquet").read_bytes() == before


def test_too_few_accounts_is_a_clear_error():
    with pytest.raises(DataError, match=r"too few accounts to cluster into 2 segments: need at least 10 \(5 per segment\), got 3"):
        segment_accounts(tiny_dataset(), "2024-04-01", CONFIG, None)


def test_an_unknown_feature_in_a_rule_is_a_clear_error(world):
    tiers = RuleList(rules=(SegmentRule(name="big", label="Tier 1",
                                        all_of=(Condition(column="employee_count", op=">=", value=500),)),),
                     default="Tier 3")
    with pytest.raises(ConfigError, match=r"tiers rule 'big' reads unknown feature 'employee_count'"):
        segment_accounts(world, "2023-05-01", CONFIG.model_copy(update={"tiers": tiers}), None)


def test_a_failure_while_writing_leaves_no_half_written_folder(first, tmp_path, monkeypatch):
    def disk_full(path, payload):
        raise OSError("disk full")

    monkeypatch.setattr(store_module, "_dump", disk_full)
    with pytest.raises(OSError, match="disk full"):
        write_segmentation(first, tmp_path / "v1")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_without_its_assignments_is_named(tmp_path):
    with pytest.raises(DataError, match=r"segmentation .* lacks assignments.parquet, features.parquet"):
        read_segmentation(tmp_path)


def test_the_page_speaks_in_words_percentages_and_dollars_and_fits_1280_px(first):
    """The demo page had snake_case headers, rates as 0.291 and a 1,530 px KPI table; every chart is an <img> with
    a data src no wider than the page."""
    import re

    page = first.summary
    for header in ("<th class='text'>Segment</th>", "<th>Accounts</th>", "Conversion (past 12 months)", "<th>Win rate</th>",
                   "<th>Avg. deal size</th>", "Churn (past 12 months)", "Revenue per paying account"):
        assert header in page, header
    for raw in ("lead_to_opportunity_rate", "conversion_rate", "avg_won_deal", "flag_reason", "churn_rate"):
        assert raw not in page, raw
    cells = re.findall(r"<td>([^<]*)</td>", page)
    assert any(re.fullmatch(r"\d+\.\d%", c) for c in cells) and any(re.fullmatch(r"\$[\d.,]+[KM]?", c) for c in cells)
    assert not any(re.fullmatch(r"0\.\d{3}", c) for c in cells)  # no bare rates
    assert "max-width:1200px" in page
    images = re.findall(r"<img [^>]*>", page)
    assert len(images) == 6 + 4  # a chart per kind; CAC against value per tier, value segment, buying stage, cluster
    for tag in images:
        assert "src='data:image/png;base64," in tag and int(re.search(r"width='(\d+)'", tag).group(1)) <= 1200
    # the segmentation date is the data's last month: the backtest needs 90 more days and says so
    assert "Backtest not possible yet" in page and "more days of data" in page
