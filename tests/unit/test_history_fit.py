"""Defaults that fit the history: a 12-month export of a wholesaler's orders trains a 90-day CLTV model, 18 months a
180-day one, and the run says what it chose; what the user configured is kept. Churn of buyers without contracts
is silence -- no order within the horizon -- chosen from the revenue table's billing pattern."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from b2bscore.data.load import load_dataset
from b2bscore.errors import DataError
from b2bscore.synth import WorldConfig, generate_world
from b2bscore.training.config import ChurnConfig, TrainConfig
from b2bscore.training.history import fit_to_history
from b2bscore.training.labels import billing_pattern, churn_labels
from b2bscore.training.tasks import truth_frame
from b2bscore.training.train import check_trainable


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("history")
    specs = {"orders-12": dict(months=12, revenue_mode="transactional"),
             "orders-18": dict(months=18, revenue_mode="transactional"),
             "plans-36": dict(months=36, revenue_mode="subscription")}
    for name, spec in specs.items():
        generate_world(WorldConfig(accounts=3000, seed=4, **spec), root / name)
    return {name: root / name for name in specs}


@pytest.fixture(scope="module")
def data(worlds: dict[str, Path]) -> dict[str, object]:
    return {name: load_dataset(path)[0] for name, path in worlds.items()}


def test_twelve_months_of_orders_train_every_model_with_defaults(data) -> None:
    chosen = {task: fit_to_history(task, data["orders-12"], TrainConfig(), check_trainable)
              for task in ("conversion", "propensity", "churn", "cltv")}
    assert chosen["cltv"].config.cltv.horizon_days == 90
    assert "365-day horizon" in chosen["cltv"].note and "90-day horizon" in chosen["cltv"].note
    assert "12 months of revenue (2023-01-01 to 2023-12-31)" in chosen["cltv"].note
    assert chosen["churn"].config.churn.definition == "silence" and chosen["churn"].config.churn.horizon_days == 90
    assert "no order within the horizon" in chosen["churn"].note
    assert chosen["propensity"].config.propensity.snapshot_months == 1
    assert chosen["conversion"].note is None and chosen["conversion"].config == TrainConfig()
    for fitted in chosen.values():  # the labels and split are those of the configuration chosen
        assert len(fitted.split.train) and len(fitted.split.valid) and len(fitted.split.test)


def test_eighteen_months_train_a_six_month_cltv_model(data) -> None:
    fitted = fit_to_history("cltv", data["orders-18"], TrainConfig(), check_trainable)
    assert fitted.config.cltv.horizon_days == 180 and (fitted.labels.rows["label_end"] - fitted.labels.rows["as_of"]
                                                        ).eq(pd.Timedelta(days=180)).all()


def test_a_configured_horizon_is_kept_and_its_reason_given(data) -> None:
    config = TrainConfig.model_validate({"cltv": {"horizon_days": 365}})
    with pytest.raises(DataError, match="365-day outcome window") as raised:
        fit_to_history("cltv", data["orders-12"], config, check_trainable)
    assert "tried" not in str(raised.value)
    config = TrainConfig.model_validate({"cltv": {"snapshot_months": 1}})  # only the spacing set: the horizon adapts
    assert fit_to_history("cltv", data["orders-12"], config, check_trainable).config.cltv.horizon_days == 90


def test_a_long_subscription_history_keeps_every_default(data) -> None:
    for task in ("propensity", "churn", "cltv"):
        fitted = fit_to_history(task, data["plans-36"], TrainConfig(), check_trainable)
        expected = TrainConfig().model_copy(update={"churn": ChurnConfig(definition="revenue_drop")})
        assert fitted.note is None and getattr(fitted.config, task) == getattr(expected, task), task


def test_billing_pattern(data) -> None:
    assert billing_pattern(data["orders-12"]) == "orders" and billing_pattern(data["plans-36"]) == "cycle"


def test_silence_labels_are_the_truths_buyers_without_an_order(data, worlds) -> None:
    labels = churn_labels(data["orders-18"], ChurnConfig(definition="silence", horizon_days=90), lookback_days=90,
                          history_days=90).rows
    truth = pd.read_parquet(worlds["orders-18"] / "truth" / "buyers.parquet",
                            columns=["account_id", "as_of", "orders_90d"]).dropna()
    joined = labels.merge(truth, on=["account_id", "as_of"], how="left", validate="1:1")
    assert len(labels) > 1000 and joined["orders_90d"].notna().all()
    assert (joined["label"] == (joined["orders_90d"] == 0).astype(int)).all()
    oracle = truth_frame("churn", worlds["orders-18"] / "truth", 90, churn_definition="silence")
    assert len(labels.merge(oracle, on=["account_id", "as_of"])) == len(labels)


def test_churn_and_cltv_of_buyers_run_beside_the_fitted_buy_till_you_die_model(data, tmp_path) -> None:
    """Every churn and CLTV run on buyers who order at will logs BG/NBD x Gamma-Gamma (fitted by PyMC-Marketing on
    the orders before each as-of time) on the same test rows; for CLTV it is the baseline candidate."""
    from b2bscore.home import ProjectHome
    from b2bscore.training.job import train_dataset

    results = {r.task: r for r in train_dataset(("churn", "cltv"), data["orders-12"], config=TrainConfig(),
                                                home=ProjectHome(tmp_path))}
    cltv, churn = results["cltv"].metrics, results["churn"].metrics
    for key in ("btyd_test_mae", "btyd_test_spearman", "btyd_test_gini_normalised", "btyd_test_mean_predicted",
                "btyd_valid_mae"):
        assert key in cltv, key
    assert cltv["baseline_test_mae"] == pytest.approx(cltv["btyd_test_mae"])  # the baseline is the buy-till-you-die expectation
    assert cltv["btyd_test_n"] == cltv["test_n"]
    for key in ("btyd_test_roc_auc", "btyd_orders_test_roc_auc", "btyd_test_ece"):
        assert key in churn, key
    assert 0.5 < churn["btyd_test_roc_auc"] < 1  # 1 - P(alive) ranks who goes silent
    # the CLTV model of such buyers has two parts, scaled to the validation period's total
    import mlflow

    from b2bscore.model.tracking import activate, resolve_tracking

    activate(resolve_tracking(ProjectHome(tmp_path)))
    params = mlflow.get_run(results["cltv"].run_id).data.params
    assert params["form"] == "two_part" and float(params["level"]) > 0
    if results["cltv"].candidate == "lightgbm":
        assert cltv["valid_mean_predicted"] == pytest.approx(cltv["valid_mean_actual"], rel=1e-6)
