"""Request and response models of the service, generated from the data contract (declared once).

Each table's row becomes a pydantic model with the contract's types, descriptions, allowed values
and bounds; ``extra="forbid"`` turns a misspelt field into a 4xx naming it. The service is stricter
than the batch loader on one point: an unknown activity type is refused (a CRM integration sending
one is almost always a mapping bug), where files count such events generically.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from b2bscore.data.contract import TABLES, Column

OTHER_ACTIVITY = "other"  # what a client sends for an event outside the known types (counted generically)
_TYPES = {"id": str, "string": str, "category": str, "int": int, "float": float, "datetime": datetime}


def _field(column: Column, *, force_optional: bool = False):
    kind = _TYPES[column.kind]
    if column.name == "activity_type":
        kind = Literal[(*column.allowed, OTHER_ACTIVITY)]  # type: ignore[valid-type]
    elif column.allowed and not column.open_values:
        kind = Literal[column.allowed]  # type: ignore[valid-type]
    bounds = {}
    if column.nonnegative:
        bounds["ge"] = 0
    if column.min_value is not None:
        bounds["ge"] = column.min_value
    if column.max_value is not None:
        bounds["le"] = column.max_value
    if column.kind == "id":
        bounds.update(min_length=1, max_length=128)
    optional = column.nullable or not column.required or force_optional
    annotation = Optional[kind] if optional else kind
    default = None if optional else ...
    return annotation, Field(default, description=column.description, examples=[column.example] if column.example else None,
                             **bounds)


def _row_model(table: str, name: str, *, drop: tuple[str, ...] = ("account_id",),
               optional: tuple[str, ...] = ()) -> type[BaseModel]:
    columns = {c.name: _field(c, force_optional=c.name in optional) for c in TABLES[table].columns if c.name not in drop}
    return create_model(name, __config__=ConfigDict(extra="forbid"), __doc__=TABLES[table].description, **columns)


Account = create_model("Account", __config__=ConfigDict(extra="forbid"), __doc__=TABLES["accounts"].description,
                       **{c.name: _field(c) for c in TABLES["accounts"].columns})
Lead = _row_model("leads", "Lead", drop=(), optional=("account_id",))
Technology = _row_model("technographics", "Technology")
Activity = _row_model("activities", "Activity")
IntentSignal = _row_model("intent", "IntentSignal")
Opportunity = _row_model("opportunities", "Opportunity")
Invoice = _row_model("revenue", "Invoice")

_EVENT_TIMES = {"technographics": "first_seen_at", "activities": "occurred_at", "intent": "week_start",
                "opportunities": "created_at", "revenue": "invoice_at"}


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: Optional[datetime] = Field(None, description="Score as of this time (UTC); default: the time of the request. "
                                      "Only events before it are used; events after it are refused.")
    account: Account = Field(description="The company: its firmographics.")  # type: ignore[valid-type]
    technographics: list[Technology] = Field(default_factory=list, description="Technologies the company runs.")  # type: ignore[valid-type]
    activities: list[Activity] = Field(default_factory=list, max_length=20_000,  # type: ignore[valid-type]
                                       description="Recent engagement events (the last 90 days are enough).")
    intent: list[IntentSignal] = Field(default_factory=list, description="Third-party intent surges.")  # type: ignore[valid-type]
    opportunities: list[Opportunity] = Field(default_factory=list, description="The company's deals.")  # type: ignore[valid-type]
    revenue: list[Invoice] = Field(default_factory=list, description="The company's invoices.")  # type: ignore[valid-type]
    leads: list[Lead] = Field(default_factory=list, description="Other leads of the company (buying committee).")  # type: ignore[valid-type]

    @field_validator("as_of")
    @classmethod
    def _naive_utc(cls, value: datetime | None) -> datetime | None:
        return value if value is None or value.tzinfo is None else value.astimezone(tz=None).replace(tzinfo=None)

    def check_times(self, as_of: datetime) -> None:
        """Refuse events at or after the scoring time: they would be from the future."""
        for table, column in _EVENT_TIMES.items():
            for position, item in enumerate(getattr(self, table)):
                moment = getattr(item, column)
                moment = moment.replace(tzinfo=None) if moment.tzinfo else moment
                if moment >= as_of:
                    raise ValueError(f"{table}[{position}].{column} {moment.isoformat()} is not before as_of "
                                     f"{as_of.isoformat()}: events from the future cannot be scored")


class LeadRecord(_Record):
    """One lead to score, with everything about its company the features need."""

    lead: Lead = Field(description="The lead to score; its account_id, when given, must be the account's.")  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _lead_before_as_of(self) -> LeadRecord:
        if self.lead.account_id is not None and self.lead.account_id != self.account.account_id:
            raise ValueError(f"lead.account_id {self.lead.account_id!r} is not the record's account "
                             f"{self.account.account_id!r}")
        if self.as_of is not None:
            created = self.lead.created_at.replace(tzinfo=None)
            if created >= self.as_of:
                raise ValueError(f"lead.created_at {created.isoformat()} is not before as_of {self.as_of.isoformat()}")
            self.check_times(self.as_of)
        return self


class AccountRecord(_Record):
    """One account to score."""

    @model_validator(mode="after")
    def _events_before_as_of(self) -> AccountRecord:
        if self.as_of is not None:
            self.check_times(self.as_of)
        return self


class LeadScore(BaseModel):
    lead_id: str
    account_id: str
    probability: float = Field(description="Calibrated probability of a won deal within the horizon (90 days by default).")
    score: int = Field(description="The probability as 0-100.")
    grade: Literal["A", "B", "C", "D"] = Field(description="A: top 10% of recent leads, B: next 20%, C: next 30%, D: rest.")
    tier: Optional[str] = Field(None, description="The account's tier in the latest segmentation, when there is one.")
    reasons_for: list[str] = Field(description="Up to 3 facts that raise the score most, in plain language.")
    reasons_against: list[str] = Field(description="Up to 3 facts that lower the score most.")
    model_version: str = Field(description="Version of b2bscore-conversion that scored it.")


class AccountScore(BaseModel):
    account_id: str
    is_customer: bool
    churn_probability: Optional[float] = Field(None, description="Probability that revenue stops within 180 days (customers).")
    churn_score: Optional[int] = None
    churn_grade: Optional[str] = None
    cltv_pred: Optional[float] = Field(None, description="Predicted revenue over the next 365 days (customers).")
    tier: Optional[str] = Field(None, description="Tier in the latest segmentation, when there is one.")
    segment: Optional[str] = Field(None, description="Data-driven segment in the latest segmentation, when there is one.")
    reasons_for: list[str] = Field(default_factory=list, description="Facts that raise the churn risk most.")
    reasons_against: list[str] = Field(default_factory=list, description="Facts that lower the churn risk most.")
    churn_model_version: Optional[str] = None
    cltv_model_version: Optional[str] = None
