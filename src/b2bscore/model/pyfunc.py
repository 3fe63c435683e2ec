"""The registered MLflow model: a pyfunc that scores raw business records on its own, and how a run logs it.

Besides the model, every training run logs the monitoring reference at :data:`REFERENCE_ARTIFACT` (the
out-of-time rows the model was judged on, with its predictions and the realised labels).
"""

from __future__ import annotations

import pickle
import tempfile
import warnings
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature

import b2bscore
from b2bscore.data.dataset import Dataset
from b2bscore.model.estimator import ScoringModel
from b2bscore.model.scoring import score
from b2bscore.records import caller_ids, dataset_to_records, records_to_dataset

MODEL_ARTIFACT = "scoring_model"
REFERENCE_ARTIFACT = "reference/reference.parquet"
_RUNTIME = ("mlflow", "lightgbm", "scikit-learn", "pandas", "numpy", "scipy", "pyarrow", "pydantic", "pyyaml")


class ScoringPyfunc(mlflow.pyfunc.PythonModel):
    """Input: records (see ``b2bscore.records``), one JSON column per field. Output: the scores."""

    def load_context(self, context) -> None:
        with open(context.artifacts[MODEL_ARTIFACT], "rb") as handle:
            self.model: ScoringModel = pickle.load(handle)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """One row of scores per record, in order, each record scored as if it were sent alone."""
        data, entities = records_to_dataset(model_input)
        key = "lead_id" if self.model.entity == "lead" else "account_id"
        scores, _ = score(self.model, data, entities[[key, "as_of"]])
        return caller_ids(scores)


def save_scoring_model(model: ScoringModel, folder: Path) -> Path:
    path = Path(folder) / "scoring_model.pkl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(model, handle)
    return path


def load_scoring_model(path: Path) -> ScoringModel:
    with open(path, "rb") as handle:
        return pickle.load(handle)


def log_scoring_model(model: ScoringModel, data: Dataset, example_rows: pd.DataFrame):
    """Log ``model`` as the active run's pyfunc model, with a signature and an input example made from
    ``example_rows`` of ``data``, the package's code and its runtime requirements."""
    key = "lead_id" if model.entity == "lead" else "account_id"
    example = dataset_to_records(data, example_rows[[c for c in ("lead_id", "account_id", "as_of") if c in example_rows]])
    if key == "account_id":
        example["lead"] = "null"
    with tempfile.TemporaryDirectory() as folder:
        path = save_scoring_model(model, Path(folder))
        output = ScoringPyfunc()
        output.model = model
        prediction = output.predict(None, example)
        with warnings.catch_warnings():
            # the 0-100 score is an integer by design and never missing: mlflow's hint about integer columns is noise
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
            signature = infer_signature(example, prediction)
        return mlflow.pyfunc.log_model(
            name="model", python_model=ScoringPyfunc(), artifacts={MODEL_ARTIFACT: str(path)},
            signature=signature, input_example=example,
            code_paths=[str(Path(b2bscore.__file__).parent)], pip_requirements=_requirements(),
        )


def _requirements() -> list[str]:
    """The scoring model's runtime dependencies at the versions it was trained with (no slow inference)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for package in _RUNTIME:
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            pins.append(package)
    return pins
