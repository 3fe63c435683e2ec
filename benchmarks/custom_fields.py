"""Benchmark: a customer's own columns learned as well as a plain LightGBM on them.

On the custom-signal world of ``tests/worlds.py`` (conversion driven only by a 500-value ``accounts.partner_code``
and the lead source), trains the conversion model exactly as ``b2bscore train conversion`` does with the default
configuration, and prints its out-of-time ROC AUC beside a plain ``lightgbm.LGBMClassifier`` fitted on the two
columns as pandas categories on the same split, and beside the run's baseline.

Usage::

    python benchmarks/custom_fields.py --seeds 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    import lightgbm as lgb
    from sklearn.metrics import roc_auc_score
    from worlds import custom_signal_world

    from b2bscore.data.load import load_dataset
    from b2bscore.home import ProjectHome
    from b2bscore.training.config import TrainConfig
    from b2bscore.training.train import check_trainable, train

    print(f"{'seed':>4}  {'b2bscore':>8}  {'registered':<10}  {'plain':>6}  {'baseline':>8}")
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as folder:
            folder = Path(folder)
            data = load_dataset(custom_signal_world(folder / "world", seed))[0]
            result = train("conversion", data, config=TrainConfig(), home=ProjectHome(folder / "home"))
            labels, split = check_trainable("conversion", data, TrainConfig())
            rows = labels.rows.merge(data.leads[["lead_id", "source"]], on="lead_id", how="left")
            rows = rows.merge(data.accounts[["account_id", "partner_code"]], on="account_id", how="left")
            columns, y = rows[["partner_code", "source"]].astype("category"), rows["label"].to_numpy()
            plain = lgb.LGBMClassifier(verbose=-1, random_state=0).fit(columns.iloc[split.train], y[split.train])
            plain_auc = roc_auc_score(y[split.test], plain.predict_proba(columns.iloc[split.test])[:, 1])
            m = result.metrics
            print(f"{seed:>4}  {m['test_roc_auc']:>8.4f}  {result.candidate:<10}  {plain_auc:>6.4f}  "
                  f"{m['baseline_test_roc_auc']:>8.4f}", flush=True)


if __name__ == "__main__":
    main()
