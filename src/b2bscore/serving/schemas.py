"""Request and response models of the service, generated from the data contract (declared once).

Each table's row becomes a pydantic model with the contract's types, descriptions, allowed values
and bounds; ``extra="forbid"`` turns a misspelt field into a 4xx naming it. A field the contract marks optional may be
left out or null, its value then unknown (an account needs only its ``account_id``). Category values are first
canonicalised by the loader's own function (``"Pricing Page View"`` -> ``pricing_page_view``), so a request
accepts the spellings a data directory accepts; numbers are numbers (no ``true``, no ``"12"``; ``240.0`` employees is
240, ``240.5`` is refused) and finite, within
the contract's bounds; every event list has a cap. The account and each lead may carry the customer's own fields
(columns of their CRM outside the contract) in ``custom``: name -> text, finite number or null, read as a data
directory's extra column of that name. The service is stricter than the batch loader on one point:
an unknown activity type is refused (a CRM integration sending one is almost always a mapping bug), where files
count such events generically.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal, Optional, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    create_model,
    model_validator,
)

from b2bscore.data.canonical import canonical_category
from b2bscore.data.contract import TABLES, Column
from b2bscore.records import CUSTOM, CUSTOM_CAPS, RECORD_CAPS, custom_fields_problem, custom_value_problem

OTHER_ACTIVITY = "other"  # what a client sends for an event outside the known types (counted generically)
_TYPES = {"id": str, "string": str, "category": str, "int": int, "float": float, "datetime": datetime}


def _naive_utc(value: datetime, where: str = "the time") -> datetime:
    """A time as the loader keeps it (and reads the request's times): UTC without a zone (a time without one is
    taken as UTC)."""
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 in UTC lies before year 1
        raise ValueError(f"{where} {value.isoformat()} is outside the times of years 1 to 9999 in UTC") from None


def _plain_number(value: object) -> object:
    """A JSON number stays as it is (pydantic then takes 240.0 as 240 and refuses 240.5); true/false and text are
    refused, where pydantic's lax mode would read them as 1/0 and 12."""
    if isinstance(value, (bool, str)):
        raise ValueError("must be a number, not true/false or text")
    return value


def _field(column: Column, *, force_optional: bool = False):
    kind = _TYPES[column.kind]
    if column.name == "activity_type":
        kind = Literal[(*column.allowed, OTHER_ACTIVITY)]  # type: ignore[valid-type]
    elif column.allowed and not column.open_values:
        kind = Literal[column.allowed]  # type: ignore[valid-type]
    if column.kind == "category":  # the spellings a data directory accepts: "Pricing Page View" -> pricing_page_view
        kind = Annotated[kind, BeforeValidator(canonical_category)]
    bounds: dict = {}
    if column.kind == "float":  # no true/false, no "12" text, no Infinity or NaN
        bounds.update(strict=True, allow_inf_nan=False)
    if column.nonnegative:
        bounds["ge"] = 0
    if column.min_value is not None:
        bounds["ge"] = column.min_value
    if column.max_value is not None:
        bounds["le"] = column.max_value
    if column.kind == "int":  # no true/false, no "12" text, no 240.5 employees; 240.0 (as many exports write it) is 240
        # the bounds go before the validator: after it, pydantic publishes them as "ge"/"le", not minimum/maximum
        limits = {k: bounds.pop(k) for k in ("ge", "le") if k in bounds}
        kind = Annotated[kind, Field(**limits), BeforeValidator(_plain_number)]
    if column.kind == "id":
        bounds.update(min_length=1, max_length=128)
    description = column.description
    if column.calendar_year:
        description += " Not after the year of the record's as_of."
    optional = column.nullable or not column.required or force_optional
    annotation = Optional[kind] if optional else kind
    default = None if optional else ...
    return annotation, Field(default, description=description, examples=[column.example] if column.example else None,
                             **bounds)


def _row_model(table: str, name: str, *, drop: tuple[str, ...] = ("account_id",),
               optional: tuple[str, ...] = (), custom: bool = False) -> type[BaseModel]:
    columns = {c.name: _field(c, force_optional=c.name in optional) for c in TABLES[table].columns if c.name not in drop}
    if custom:
        columns[CUSTOM] = _custom_field(table)
    return create_model(name, __config__=ConfigDict(extra="forbid"), __doc__=TABLES[table].description, **columns)


def _custom_value(value: object) -> object:
    problem = custom_value_problem(value)
    if problem:
        raise ValueError(problem)
    return value


_CustomValue = Annotated[Optional[Union[Annotated[StrictStr, Field(max_length=CUSTOM_CAPS["text"])], StrictInt,
                                        Annotated[StrictFloat, Field(allow_inf_nan=False)]]],
                         BeforeValidator(_custom_value)]


def _custom_field(table: str):
    """The ``custom`` object of a row of ``table``: the customer's own fields, each checked on its own (an error
    names it), then the object as a whole (the cap, names of contract fields)."""
    def check(custom: Optional[dict]) -> Optional[dict]:
        problem = custom_fields_problem(custom or {}, table)
        if problem:
            raise ValueError(f"{CUSTOM}{problem}")
        return custom

    annotation = Annotated[Optional[dict[Annotated[str, Field(min_length=1, max_length=CUSTOM_CAPS["name"])],
                                         _CustomValue]], AfterValidator(check)]
    return annotation, Field(
        None, description=f"The customer's own fields of this {table[:-1]} (columns of your CRM outside the data "
        "contract), by the column name your data files use: text, a number or null each, at most "
        f"{CUSTOM_CAPS['fields']:,} fields of up to {CUSTOM_CAPS['text']:,} characters. The models read them as "
        "that extra column of a data directory; a field left out is unknown.",
        examples=[{"partner_code": "P042", "first_contact_date": "2021-03-04"}])


Account = _row_model("accounts", "Account", drop=(), custom=True)
Lead = _row_model("leads", "Lead", drop=(), optional=("account_id",), custom=True)
Technology = _row_model("technographics", "Technology")
Activity = _row_model("activities", "Activity")
IntentSignal = _row_model("intent", "IntentSignal")
Opportunity = _row_model("opportunities", "Opportunity")
Invoice = _row_model("revenue", "Invoice")

_EVENT_TIMES = {"technographics": "first_seen_at", "activities": "occurred_at", "intent": "week_start",
                "opportunities": "created_at", "revenue": "invoice_at"}
_YEARS = tuple(c.name for c in TABLES["accounts"].columns if c.calendar_year)


def _events(name: str, what: str):
    """The field of a record's event list ``name``, capped at ``RECORD_CAPS[name]`` (stated in its description)."""
    cap = RECORD_CAPS[name]
    return Field(default_factory=list, max_length=cap, description=f"{what} At most {cap:,} per record.")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")

    as_of: Optional[Annotated[datetime, AfterValidator(_naive_utc)]] = Field(
        None, description="Score as of this time (UTC; a time with a zone is converted); default: the time of the "
        "request. Only events before it are used; events after it are refused.")
    account: Optional[Account] = Field(  # type: ignore[valid-type]
        None, description="The company: its firmographics. Required unless the record names an id to look up "
        "(then it is the data to score from when the online store does not know the id).")
    technographics: list[Technology] = _events(  # type: ignore[valid-type]
        "technographics", "Technologies the company runs.")
    activities: list[Activity] = _events(  # type: ignore[valid-type]
        "activities", "Recent engagement events (the last 90 days are enough).")
    intent: list[IntentSignal] = _events("intent", "Third-party intent surges.")  # type: ignore[valid-type]
    opportunities: list[Opportunity] = _events("opportunities", "The company's deals.")  # type: ignore[valid-type]
    revenue: list[Invoice] = _events("revenue", "The company's invoices.")  # type: ignore[valid-type]
    leads: list[Lead] = _events("leads", "Other leads of the company (buying committee).")  # type: ignore[valid-type]

    def carries_data(self) -> bool:
        """Whether the record holds data beyond an id (the account, a lead, any event)."""
        return self.account is not None or getattr(self, "lead", None) is not None or any(
            getattr(self, table) for table in _EVENT_TIMES) or bool(self.leads)

    def check_times(self, as_of: datetime) -> None:
        """Refuse events at or after the scoring time (they would be from the future), and a year after its year."""
        for name in _YEARS if self.account is not None else ():
            year = getattr(self.account, name)
            if year is not None and year > as_of.year:
                raise ValueError(f"account.{name} {year} is after the year of as_of {as_of.isoformat()}")
        for table, column in _EVENT_TIMES.items():
            for position, item in enumerate(getattr(self, table)):
                moment = _naive_utc(getattr(item, column), f"{table}[{position}].{column}")
                if moment >= as_of:
                    raise ValueError(f"{table}[{position}].{column} {moment.isoformat()} is not before as_of "
                                     f"{as_of.isoformat()}: events from the future cannot be scored")


class LeadRecord(_Record):
    """One lead to score: by its id (``lead_id``; its features are looked up in the online store), or with everything
    about its company the features need (``account``, ``lead`` and the events)."""

    lead_id: Optional[str] = Field(
        None, min_length=1, max_length=128, description="Score the lead of this id from the online store's features "
        "(written by the nightly `b2bscore score`). Without it, the record must carry the account and the lead.",
        examples=["L1"])
    lead: Optional[Lead] = Field(  # type: ignore[valid-type]
        None, description="The lead to score; its account_id, when given, must be the account's. Required unless "
        "lead_id is given.")

    @model_validator(mode="after")
    def _lead_before_as_of(self) -> LeadRecord:
        if self.lead_id is None and (self.account is None or self.lead is None):
            missing = " and ".join(n for n in ("account", "lead") if getattr(self, n) is None)
            raise ValueError(f"{missing}: required, unless the record names a lead_id to look up in the online store")
        if self.lead_id is not None and self.lead is not None and self.lead.lead_id != self.lead_id:
            raise ValueError(f"lead.lead_id {self.lead.lead_id!r} is not the record's lead_id {self.lead_id!r}")
        if self.lead is None:
            if self.as_of is not None:
                self.check_times(self.as_of)
            return self
        if self.account is not None and self.lead.account_id is not None and self.lead.account_id != self.account.account_id:
            raise ValueError(f"lead.account_id {self.lead.account_id!r} is not the record's account "
                             f"{self.account.account_id!r}")
        if self.as_of is not None:
            created = _naive_utc(self.lead.created_at, "lead.created_at")
            if created >= self.as_of:
                raise ValueError(f"lead.created_at {created.isoformat()} is not before as_of {self.as_of.isoformat()}")
            self.check_times(self.as_of)
        return self


class AccountRecord(_Record):
    """One account to score: by its id (``account_id``; its features are looked up in the online store), or with its
    data (``account`` and the events)."""

    account_id: Optional[str] = Field(
        None, min_length=1, max_length=128, description="Score the account of this id from the online store's "
        "features (written by the nightly `b2bscore score`). Without it, the record must carry the account.",
        examples=["A1"])

    @model_validator(mode="after")
    def _events_before_as_of(self) -> AccountRecord:
        if self.account_id is None and self.account is None:
            raise ValueError("account: required, unless the record names an account_id to look up in the online store")
        if self.account_id is not None and self.account is not None and self.account.account_id != self.account_id:
            raise ValueError(f"account.account_id {self.account.account_id!r} is not the record's account_id "
                             f"{self.account_id!r}")
        if self.as_of is not None:
            self.check_times(self.as_of)
        return self


class RecordError(BaseModel):
    """Why one record of a batch was not scored (the others were)."""

    status: int = Field(description="An HTTP status for this record alone: 404 when the online store does not know "
                        "the id and the record carries no data to score it from; 503 when the store cannot be read.")
    detail: str = Field(description="What is wrong, naming the id.")


_FEATURES_AS_OF = ("The time the features were computed as of: the online store's as-of (the nightly batch's) for a "
                   "record scored by id, the record's as_of for one scored from its data.")
_SOURCE = ("Where the features came from: 'online_store' (looked up by id), 'online_store+request' (looked up, with "
           "the lead's fresh fields of the request applied by the same feature code) or 'request' (computed from the "
           "record's data).")


class LeadScore(BaseModel):
    lead_id: str
    account_id: Optional[str] = None
    probability: Optional[float] = Field(None, description="Calibrated probability of a won deal within the horizon "
                                         "(90 days by default).")
    score: Optional[int] = Field(None, description="The probability as 0-100.")
    grade: Optional[Literal["A", "B", "C", "D"]] = Field(
        None, description="The probability against the average lead's: A at least 3x, B at least 1.5x, C at least "
        "0.75x, D below.")
    features_as_of: Optional[datetime] = Field(None, description=_FEATURES_AS_OF)
    source: Optional[Literal["online_store", "online_store+request", "request"]] = Field(None, description=_SOURCE)
    error: Optional[RecordError] = Field(None, description="Set when this record was not scored (its other fields "
                                         "but the id are then null).")
    tier: Optional[str] = Field(None, description="The account's tier in the latest segmentation, when there is one.")
    reasons_for: list[str] = Field(default_factory=list, description="Up to 3 facts that raise the score most, in "
                                   "plain language.")
    reasons_against: list[str] = Field(default_factory=list, description="Up to 3 facts that lower the score most.")
    model_version: Optional[str] = Field(None, description="Version of b2bscore-conversion that scored it.")


class AccountScore(BaseModel):
    account_id: str
    is_customer: Optional[bool] = None
    is_prospect: Optional[bool] = Field(None, description="Has never bought: no won deal and no invoice so far.")
    features_as_of: Optional[datetime] = Field(None, description=_FEATURES_AS_OF)
    source: Optional[Literal["online_store", "online_store+request", "request"]] = Field(None, description=_SOURCE)
    error: Optional[RecordError] = Field(None, description="Set when this record was not scored (its other fields "
                                         "but the id are then null).")
    propensity_probability: Optional[float] = Field(None, description="Probability to win a first deal within 90 "
                                                    "days (prospects).")
    propensity_score: Optional[int] = None
    propensity_grade: Optional[Literal["A", "B", "C", "D"]] = Field(
        None, description="The chance to win against the average prospect's: A at least 3x, B 1.5x, C 0.75x (prospects).")
    churn_probability: Optional[float] = Field(None, description="Probability that revenue stops within 180 days (customers).")
    churn_score: Optional[int] = None
    churn_risk_level: Optional[Literal["high", "medium", "low"]] = Field(
        None, description="Churn probability against the average customer's: high at least 2x, medium at least 0.75x, "
                          "low below (customers).")
    cltv_pred: Optional[float] = Field(None, description="Predicted revenue over the next 365 days (customers).")
    tier: Optional[str] = Field(None, description="Tier in the latest segmentation, when there is one.")
    segment: Optional[str] = Field(None, description="Data-driven segment in the latest segmentation, when there is one.")
    reasons_for: list[str] = Field(default_factory=list, description="Facts that raise the churn risk (customers) or "
                                   "the chance to buy (prospects) most.")
    reasons_against: list[str] = Field(default_factory=list, description="Facts that lower the churn risk (customers) "
                                       "or the chance to buy (prospects) most.")
    propensity_model_version: Optional[str] = None
    churn_model_version: Optional[str] = None
    cltv_model_version: Optional[str] = None
