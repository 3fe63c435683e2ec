"""Declarations of every feature: name, family, dtype and the sentence a salesperson reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from b2bscore.errors import B2BScoreError

Family = Literal["firmographic", "technographic", "behavioural", "intent", "fit", "lead", "custom"]
Dtype = Literal["float", "int", "bool", "category", "string"]

_NUMPY_DTYPES: dict[str, object] = {"float": np.float64, "int": np.int64, "bool": np.bool_}


@dataclass(frozen=True)
class FeatureSpec:
    """One feature.

    ``description`` is a one-line, plain-language sentence; later shown to sales teams
    as the reason behind a score. ``model_input`` is False for informational columns
    (e.g. the list of ICP flags that fired) that models must not consume.
    """

    name: str
    family: Family
    dtype: Dtype
    description: str
    model_input: bool = True


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
