"""The baselines every run fits beside LightGBM, as parts a registered model can hold.

A baseline is a candidate in its own right: when it (or a blend with LightGBM) ranks the validation period better,
it is what the run registers (see ``b2bscore.training.candidates``). So each baseline gives, besides its score,
exact per-input contributions that add up to it, for the reasons shown to sales.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

if TYPE_CHECKING:
    from b2bscore.model.estimator import ModelInputs


def _signed_log1p(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


def logistic_pipeline(inputs: ModelInputs) -> Pipeline:
    """Logistic regression on the model's inputs: log-scaled, standardised numbers (a missing value imputed with the
    median and flagged) and one-hot categories (values seen fewer than 20 times pooled)."""
    numeric = make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                            FunctionTransformer(_signed_log1p), StandardScaler())
    categorical = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=20, sparse_output=False)
    columns = ColumnTransformer([("numeric", numeric, list(inputs.numeric)), ("categorical", categorical, list(inputs.categorical))])
    return Pipeline([("columns", columns), ("model", LogisticRegression(max_iter=2000, C=0.5))])


class LogisticBaseline:
    """Logistic regression on the same inputs as the model; its margin is the log-odds of the positive class.

    Contributions are exact for a linear model: each encoded column's coefficient times its distance from the
    training mean, summed over the columns that encode one input (a number and its missing flag; a category's
    one-hot columns), plus a bias (the margin of the average training row); they add up to the margin.

    An input with a declared direction (``inputs.directions``) keeps its coefficient on that side of zero: the
    encoding of a number is increasing, so the sign of its coefficient is the sign of its effect, and a blend of
    monotone trees with a monotone baseline stays monotone (see :func:`_bound_signs`).
    """

    kind = "classification"

    def __init__(self, inputs: ModelInputs) -> None:
        self.inputs = inputs

    def _frame(self, features: pd.DataFrame) -> pd.DataFrame:
        frame = features[list(self.inputs.names)].copy()
        frame[list(self.inputs.numeric)] = frame[list(self.inputs.numeric)].astype(np.float64)
        return frame

    def fit(self, features: pd.DataFrame, y: np.ndarray, *, max_rows: int | None = None, seed: int = 0) -> LogisticBaseline:
        """Fit on the training rows (a seeded random ``max_rows`` of them when there are more: a baseline needs no
        more, and it keeps the run's overhead small on large tables)."""
        if max_rows is not None and len(features) > max_rows:
            keep = np.sort(np.random.default_rng(seed).choice(len(features), size=max_rows, replace=False))
            features, y = features.iloc[keep], np.asarray(y)[keep]
        frame = self._frame(features)
        self.pipeline = logistic_pipeline(self.inputs).fit(frame, y)
        encoded = self.pipeline[:-1].transform(frame)
        directions = getattr(self.inputs, "directions", ())
        if any(directions):
            signs = np.zeros(encoded.shape[1])
            signs[:len(self.inputs.numeric)] = directions[:len(self.inputs.numeric)]  # a number's own column
            _bound_signs(self.pipeline.named_steps["model"], encoded, np.asarray(y, dtype=np.float64), signs)
        self.column_means = encoded.mean(axis=0)
        self.owner = self._owners()
        return self

    def _owners(self) -> np.ndarray:
        """For each encoded column, the position of the input it encodes (in ``inputs.names``)."""
        columns: ColumnTransformer = self.pipeline.named_steps["columns"]
        owner: list[int] = []
        n_numeric = len(self.inputs.numeric)
        if n_numeric:
            imputer: SimpleImputer = columns.named_transformers_["numeric"][0]
            flagged = imputer.indicator_.features_ if imputer.indicator_ is not None else []
            owner += list(range(n_numeric)) + [int(i) for i in flagged]
        if self.inputs.categorical:
            encoder: OneHotEncoder = columns.named_transformers_["categorical"]
            for i, categories in enumerate(encoder.categories_):
                pooled = encoder.infrequent_categories_[i]
                outputs = len(categories) if pooled is None else len(categories) - len(pooled) + 1
                owner += [n_numeric + i] * outputs
        width = len(self.column_means)
        if len(owner) != width:
            raise RuntimeError(f"the logistic baseline encodes {width} columns but {len(owner)} were attributed")
        return np.asarray(owner, dtype=np.int64)

    def margin(self, features: pd.DataFrame) -> np.ndarray:
        return self.pipeline.decision_function(self._frame(features))

    def probability(self, features: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(self._frame(features))[:, 1]

    def contributions(self, features: pd.DataFrame) -> np.ndarray:
        """One column per input (in ``inputs.names`` order) and a last one for the bias; rows add up to the margin."""
        encoded = self.pipeline[:-1].transform(self._frame(features))
        model: LogisticRegression = self.pipeline.named_steps["model"]
        coef = model.coef_[0]
        per_column = (encoded - self.column_means) * coef
        out = np.zeros((len(features), len(self.inputs.names) + 1))
        np.add.at(out.T, self.owner, per_column.T)
        out[:, -1] = model.intercept_[0] + float(self.column_means @ coef)
        return out


def _bound_signs(model: LogisticRegression, X: np.ndarray, y: np.ndarray, signs: np.ndarray) -> None:
    """Refit ``model``'s coefficients with ``coef[j] * signs[j] >= 0`` wherever the fit broke a bound.

    scikit-learn's ``LogisticRegression`` takes no bounds, so the same objective (its L2-penalised log-loss,
    ``C x sum of losses + |w|^2 / 2``, the intercept free) is minimised by L-BFGS-B with the bounds, from the fit
    clipped onto them: the constrained optimum, where a coefficient the data would push the wrong way ends at 0
    (its input then explains nothing, rather than the opposite of what it means). A fit within the bounds is kept.
    """
    coef = model.coef_[0]
    if not np.any(coef * signs < 0):
        return
    bounds = [(0.0, None) if s > 0 else (None, 0.0) if s < 0 else (None, None) for s in signs] + [(None, None)]
    start = np.append(np.where(coef * signs < 0, 0.0, coef), model.intercept_[0])
    target = 2 * y - 1

    def objective(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = params[:-1], params[-1]
        z = X @ w + b
        loss = model.C * np.logaddexp(0.0, -target * z).sum() + 0.5 * w @ w
        residual = model.C * (expit(z) - y)
        return loss, np.append(X.T @ residual + w, residual.sum())

    result = minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": model.max_iter})
    model.coef_ = result.x[:-1].reshape(1, -1)
    model.intercept_ = result.x[-1:].copy()


class RunRateBaseline:
    """RFM run-rate: the last 90 days' revenue, extended over the horizon (``revenue_90d`` must be an input).

    With ``column="btyd_expected_revenue"`` and ``per_days`` the horizon, the buy-till-you-die model's expected
    revenue in the horizon, as is: the baseline of buyers who order at will."""

    kind = "regression"
    column = "revenue_90d"
    per_days = 90.0

    def __init__(self, horizon_days: int, *, column: str = "revenue_90d", per_days: float = 90.0) -> None:
        self.horizon_days = horizon_days
        self.column = column
        self.per_days = per_days

    @property
    def name(self) -> str:
        return "buy-till-you-die" if self.column.startswith("btyd_") else "revenue run-rate"

    def value(self, features: pd.DataFrame) -> np.ndarray:
        return np.nan_to_num(features[self.column].to_numpy(dtype=np.float64)) * self.horizon_days / self.per_days
