"""The reference of a check: the out-of-time rows the champion was validated and tested on, recorded with it.

Training logs them as the run artifact ``reference/reference.parquet`` (features as the model saw them,
its prediction, the realised label); the training configuration comes from ``evaluation/config.json``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from b2bscore.errors import DataError
from b2bscore.model.champions import Champion
from b2bscore.model.pyfunc import REFERENCE_ARTIFACT
from b2bscore.training.config import TrainConfig

log = logging.getLogger(__name__)
CONFIG_ARTIFACT = "evaluation/config.json"


@dataclass(frozen=True)
class Reference:
    frame: pd.DataFrame
    train_config: TrainConfig


def load_reference(champion: Champion) -> Reference:
    """The champion's recorded reference rows and training configuration; a DataError when it has none."""
    import mlflow
    from mlflow.exceptions import MlflowException

    where = f"{champion.name} v{champion.version} (run {champion.run_id})"
    if champion.run_id is None:
        raise DataError(f"{where} has no training run, so no monitoring reference; retrain it with "
                        f"`b2bscore train {champion.task} --data DIR`")
    try:
        path = mlflow.artifacts.download_artifacts(run_id=champion.run_id, artifact_path=REFERENCE_ARTIFACT)
        frame = pd.read_parquet(path)
    except (MlflowException, OSError) as exc:
        raise DataError(f"{where} has no monitoring reference ({REFERENCE_ARTIFACT}): it was trained before monitoring "
                        f"existed or its artifacts are gone; retrain it with `b2bscore train {champion.task} --data DIR` "
                        f"({type(exc).__name__})") from None
    if frame.empty:
        raise DataError(f"{where}: the monitoring reference {REFERENCE_ARTIFACT} holds no rows; retrain the model")
    return Reference(frame=frame, train_config=_train_config(champion))


def _train_config(champion: Champion) -> TrainConfig:
    """The configuration the champion was trained with (its horizons define the outcomes); the default with the
    model's own feature configuration when the run did not record one."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from pydantic import ValidationError

    try:
        path = mlflow.artifacts.download_artifacts(run_id=champion.run_id, artifact_path=CONFIG_ARTIFACT)
        return TrainConfig.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
    except (MlflowException, OSError, ValueError, ValidationError) as exc:
        log.warning("%s v%s: no readable %s (%s); using the default training configuration", champion.name,
                    champion.version, CONFIG_ARTIFACT, type(exc).__name__)
        return TrainConfig(features=champion.model.feature_config)


def check_columns(reference: pd.DataFrame, current: pd.DataFrame, required: tuple[str, ...], *, reference_name: str,
                  current_name: str) -> None:
    """Both sides must hold every ``required`` column; one DataError names what each side lacks."""
    lacks_ref = [c for c in required if c not in reference.columns]
    lacks_cur = [c for c in required if c not in current.columns]
    if not lacks_ref and not lacks_cur:
        return
    parts = []
    if lacks_ref:
        parts.append(f"the reference ({reference_name}) lacks {len(lacks_ref)} column(s) the champion reads: "
                     f"{', '.join(lacks_ref[:10])}" + (", ..." if len(lacks_ref) > 10 else ""))
    if lacks_cur:
        parts.append(f"the current data ({current_name}) lacks {len(lacks_cur)} column(s) the champion reads: "
                     f"{', '.join(lacks_cur[:10])}" + (", ..." if len(lacks_cur) > 10 else ""))
    raise DataError("reference and current data do not match: " + "; ".join(parts) + ". The feature set changed "
                    "since the champion was trained: retrain it (b2bscore train ...), or score the data with the "
                    "current champion")
