"""Declarations of every feature: name, family, dtype and the sentence a salesperson reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from b2bscore.errors import B2BScoreError

Family = Literal["firmographic", "technographic", "behavioural", "intent", "fit", "lead", "custom"]
Dtype = Literal["float", "int", "bool", "category", "string"]
Direction = Literal["up", "down"]
Unit = Literal["count", "money", "days", "years", "percent", "change", "score", "number"]
"""How a value reads: ``count`` a whole number, ``money`` dollars with K/M, ``days``/``years`` whole ones,
``percent`` a share (0.25 -> 25%), ``change`` a log ratio read as a signed percentage change, ``score`` a whole
0-100 score, ``number`` a plain number (one decimal)."""

BUYING_SIGNAL: dict[str, Direction] = {"conversion": "up", "propensity": "up"}
"""The effect of a buying signal (demo requests, pricing-page views, intent surges, ICP fit): it can only raise a
lead's, or a prospect account's, chance to buy."""

_NUMPY_DTYPES: dict[str, object] = {"float": np.float64, "int": np.int64, "bool": np.bool_}


@dataclass(frozen=True)
class FeatureSpec:
    """One feature.

    ``description`` is a one-line, plain-language sentence; later shown to sales teams
    as the reason behind a score. ``model_input`` is False for informational columns
    (e.g. the list of ICP flags that fired) that models must not consume.

    ``unit`` says how a reason shows the value (None: as it is -- categories, yes/no, a customer's own fields);
    ``log`` that the stored value is ``log1p`` of the amount (shown as the amount, never as its log).

    ``effect`` declares, per task name ('conversion', 'churn', 'cltv'), the direction beyond doubt of a numeric
    feature: 'up' when more of it can only raise the task's prediction (more demo requests, a higher chance to buy),
    'down' when it can only lower it. Models are fitted monotone in it (``ScoringModel``), and a reason never
    shows it on the other side. Declared as a mapping, kept as sorted (task, direction) pairs so a spec stays
    hashable; read it with :meth:`direction`.
    """

    name: str
    family: Family
    dtype: Dtype
    description: str
    model_input: bool = True
    unit: Unit | None = None
    log: bool = False
    effect: Mapping[str, Direction] | tuple[tuple[str, Direction], ...] = ()

    def __post_init__(self) -> None:
        pairs = tuple(sorted(dict(self.effect).items()))
        for task, direction in pairs:
            if direction not in ("up", "down"):
                raise ValueError(f"feature {self.name!r}: effect on {task!r} is {direction!r}; choose 'up' or 'down'")
        if pairs and self.dtype not in ("float", "int", "bool"):
            raise ValueError(f"feature {self.name!r}: only a numeric feature can declare a direction ({self.dtype})")
        object.__setattr__(self, "effect", pairs)

    def direction(self, task: str | None) -> Direction | None:
        """The declared direction of this feature's effect on ``task``'s prediction (None: not declared)."""
        return dict(self.effect).get(task)  # type: ignore[return-value]


class FeatureSchemaError(B2BScoreError):
    """A feature builder returned columns or types other than those it declared (a bug)."""


def check_schema(frame: pd.DataFrame, specs: list[FeatureSpec], *, builder: str) -> pd.DataFrame:
    """Check that ``frame`` holds exactly the declared features with the declared dtypes."""
    declared = [s.name for s in specs]
    if list(frame.columns) != declared:
        missing = sorted(set(declared) - set(frame.columns))
        extra = sorted(set(frame.columns) - set(declared))
        raise FeatureSchemaError(f"{builder}: columns differ from the declaration (missing {missing}, undeclared {extra})")
    for spec in specs:
        series = frame[spec.name]
        expected = _NUMPY_DTYPES.get(spec.dtype)
        if expected is not None and series.dtype != expected:
            raise FeatureSchemaError(f"{builder}: feature {spec.name!r} is {series.dtype}, declared {spec.dtype}")
        if expected is None and series.dtype != object:
            raise FeatureSchemaError(f"{builder}: feature {spec.name!r} is {series.dtype}, declared {spec.dtype} (object)")
    return frame
