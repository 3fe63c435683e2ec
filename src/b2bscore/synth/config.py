"""The typed configuration of a synthetic world."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DRIFT_KINDS: tuple[str, ...] = ("industry_mix", "channel_shift", "intent_decay", "price_change")
"""Ways the world can change from a date at about two thirds of the window (see ``drift.py``)."""

FILE_FORMATS: tuple[str, ...] = ("parquet", "csv")
REVENUE_MODES: tuple[str, ...] = ("subscription", "transactional", "mixed")
"""How customers pay: monthly plans, orders without a contract (wholesale, distribution), or both."""


class WorldConfig(BaseModel):
    """What world to generate. The same config always yields byte-identical files."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    accounts: int = Field(default=2000, ge=20, le=5_000_000, description="Number of companies.")
    seed: int = Field(default=42, ge=0, description="Random seed of the single generator stream.")
    start: date = Field(default=date(2023, 1, 1), description="First day of the simulated period.")
    months: int = Field(default=24, ge=6, le=60, description="Length of the simulated period in months.")
    drift: str | None = Field(default=None, description=f"One of {', '.join(DRIFT_KINDS)}, or None.")
    file_format: Literal["parquet", "csv"] = Field(default="parquet", description="File format of the tables.")
    revenue_mode: Literal["subscription", "transactional", "mixed"] = Field(
        default="subscription", description="subscription: monthly invoices of a plan until the customer churns; "
        "transactional: repeat orders without a contract until the customer silently stops; mixed: both.")
    transactional_share: float = Field(default=0.5, gt=0, lt=1, description="Share of accounts that buy without a "
                                       "contract in a mixed world.")

    @field_validator("drift")
    @classmethod
    def _known_drift(cls, value: str | None) -> str | None:
        if value is not None and value not in DRIFT_KINDS:
            raise ValueError(f"unknown drift kind {value!r}; choose one of: {', '.join(DRIFT_KINDS)} (or none)")
        return value
