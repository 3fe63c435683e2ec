"""The registered MLflow model: a pyfunc that scores raw business records on its own."""

from __future__ import annotations

import pickle
from pathlib import Path

import mlflow
import pandas as pd

from b2bscore.records import records_to_dataset
from b2bscore.scoring import score
from b2bscore.training.model import ScoringModel

MODEL_ARTIFACT = "scoring_model"


class ScoringPyfunc(mlflow.pyfunc.PythonModel):
    """Input: records (see ``b2bscore.records``), one JSON column per field. Output: the scores."""

    def load_context(self, context) -> None:
        with open(context.artifacts[MODEL_ARTIFACT], "rb") as handle:
            self.model: ScoringModel = pickle.load(handle)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        data, entities = records_to_dataset(model_input)
        if self.model.entity == "lead":
            entities = entities[["lead_id", "as_of"]]
        else:
            entities = entities[["account_id", "as_of"]]
        scores, _ = score(self.model, data, entities)
        return scores


def save_scoring_model(model: ScoringModel, folder: Path) -> Path:
    path = Path(folder) / "scoring_model.pkl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(model, handle)
    return path


def load_scoring_model(path: Path) -> ScoringModel:
    with open(path, "rb") as handle:
        return pickle.load(handle)
