"""The b2bscore data contract: which tables exist, their columns and their canonical types.

Everything downstream (validation, the generator, features, models, the service) reads
these declarations instead of repeating column names. ``docs/data-contract.md`` is the
human-readable twin of this module; ``tests/unit/test_contract_docs.py`` keeps them in step.

Canonical in-memory types, as returned by the loader:

* ``id`` / ``string`` / ``category`` columns: Python ``str`` values (object dtype),
  missing values as ``None``/NaN. Category values are lower-case and stripped.
* ``int`` / ``float`` columns: ``float64`` (NaN for missing).
* ``datetime`` columns: ``datetime64[ns]``, timezone-naive, in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnKind = Literal["id", "string", "category", "int", "float", "datetime"]


@dataclass(frozen=True)
class Column:
    """One column of a table.

    A ``required`` column identifies or times its row (ids, ``created_at``, ``stage``): every file of the table has
    it and every row holds a value. Any other column is optional and ``nullable``: absent from the file or empty in a
    row, its value is unknown. No column is both required and nullable.

    ``allowed`` lists the valid values of a closed category (``None``: any value).
    ``open_values`` marks a category whose listed values are *known* but others are
    accepted (they are counted generically, e.g. unknown activity types).

    Every number is finite and lies within ``[min_value, max_value]`` (``nonnegative``: at least 0): wide
    enough for real companies, narrow enough that no absurd value (``1e308``, ``2**63`` employees) reaches a
    feature. A calendar year (a name ending in ``_year``) also lies no later than the year it is judged at:
    the time of validation for a data directory, the record's ``as_of`` for a request.
    """

    name: str
    kind: ColumnKind
    required: bool
    description: str
    example: str
    allowed: tuple[str, ...] | None = None
    open_values: bool = False
    nonnegative: bool = False
    nullable: bool = False
    min_value: float | None = None
    max_value: float | None = None

    def __post_init__(self) -> None:
        if self.required and self.nullable:
            raise ValueError(f"column {self.name!r} is declared required and nullable; a column that may be empty "
                             "is optional (required=False)")

    @property
    def calendar_year(self) -> bool:
        """A year, bounded above by the year of the moment the value is judged at (see the class docstring)."""
        return self.kind == "int" and self.name.endswith("_year")


@dataclass(frozen=True)
class TableSpec:
    """One table of the contract.

    ``key`` is the set of columns that must be unique (``None``: only exact duplicate
    rows are a problem). ``references`` maps a column to the table whose key it points
    at. ``time_column`` is the moment at which a row becomes known.
    """

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] | None = None
    references: dict[str, str] = field(default_factory=dict)
    time_column: str | None = None
    mandatory: bool = False

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


OWNERSHIP = ("public", "private", "subsidiary", "nonprofit", "government")
FUNDING_STAGES = ("bootstrapped", "seed", "series_a", "series_b", "series_c_plus", "public", "private_equity", "none")
BUYING_ROLES = ("initiator", "influencer", "decider", "buyer", "user", "gatekeeper")
OPPORTUNITY_STAGES = ("open", "won", "lost")
ACTIVITY_TYPES = (
    "web_visit",
    "pricing_page_view",
    "content_download",
    "email_open",
    "email_click",
    "webinar_attended",
    "demo_request",
    "product_login",
    "support_ticket",
)
TECH_CATEGORIES = (
    "crm",
    "erp",
    "cloud",
    "marketing_automation",
    "collaboration",
    "analytics",
    "data_warehouse",
    "security",
    "other",
)
REGIONS = ("north_america", "latin_america", "emea", "apac")

# Upper bounds of the numbers (their lower bound is 0), with room for currencies with small units (yen, rupiah).
MAX_EMPLOYEES = 5_000_000  # the largest employers have about 2 million
MAX_REVENUE = 1e15  # the largest annual revenues are below 1e12 USD, 1e14 in yen
MAX_AMOUNT = 1e13  # one deal or invoice
MAX_EVENT_VALUE = 1e6  # minutes in product or pages viewed in one event

ACCOUNTS = TableSpec(
    name="accounts",
    description="One row per company (prospect or customer): its firmographics.",
    mandatory=True,
    key=("account_id",),
    columns=(
        Column("account_id", "id", True, "Unique identifier of the company.", "A000123"),
        Column("name", "string", False, "Company name.", "Acme Analytics GmbH", nullable=True),
        Column("industry", "category", False, "Industry, lower-case snake case.", "software", nullable=True),
        Column("employees", "int", False, "Number of employees.", "240", nonnegative=True, nullable=True,
               max_value=MAX_EMPLOYEES),
        Column("annual_revenue", "float", False, "Annual revenue in the reporting currency.", "38000000",
               nonnegative=True, nullable=True, max_value=MAX_REVENUE),
        Column("country", "string", False, "ISO 3166-1 alpha-2 country code.", "DE", nullable=True),
        Column("region", "category", False, "Sales region.", "emea", allowed=REGIONS, nullable=True),
        Column("founded_year", "int", False, "Year the company was founded.", "2009", nullable=True, min_value=1600),
        Column("ownership", "category", False, "Ownership type.", "private", allowed=OWNERSHIP, nullable=True),
        Column("funding_stage", "category", False, "Latest funding stage.", "series_b", allowed=FUNDING_STAGES, nullable=True),
    ),
)

TECHNOGRAPHICS = TableSpec(
    name="technographics",
    description="Technologies a company runs, with when they were first and last seen.",
    key=("account_id", "technology", "first_seen_at"),
    references={"account_id": "accounts"},
    time_column="first_seen_at",
    columns=(
        Column("account_id", "id", True, "Company running the technology.", "A000123"),
        Column("technology", "category", True, "Product name, lower-case snake case.", "salesforce"),
        Column("category", "category", True, "Technology category; others are accepted.", "crm", allowed=TECH_CATEGORIES, open_values=True),
        Column("first_seen_at", "datetime", True, "When the technology was first detected.", "2023-04-02"),
        Column("last_seen_at", "datetime", False, "When it was last detected; empty while still in use.", "", nullable=True),
    ),
)

ACTIVITIES = TableSpec(
    name="activities",
    description="Behavioural events: web, email, webinar, product usage and support.",
    references={"account_id": "accounts", "lead_id": "leads", "campaign_id": "campaigns"},
    time_column="occurred_at",
    columns=(
        Column("account_id", "id", True, "Company the event belongs to.", "A000123"),
        Column("lead_id", "id", False, "Person (lead) behind the event, when known.", "L0004567", nullable=True),
        Column("occurred_at", "datetime", True, "When the event happened (UTC).", "2024-03-14T09:31:00"),
        Column("activity_type", "category", True, "Event type; unknown types are accepted and counted as 'other'.", "pricing_page_view", allowed=ACTIVITY_TYPES, open_values=True),
        Column("topic", "category", False, "Content or web topic, when known.", "data_integration", nullable=True),
        Column("value", "float", False, "Event magnitude (e.g. minutes in product, pages viewed).", "3",
               nonnegative=True, nullable=True, max_value=MAX_EVENT_VALUE),
        Column("campaign_id", "id", False, "Campaign behind the event (the email, webinar or ad it answered), when "
               "known: a touch of that campaign.", "C0042", nullable=True),
    ),
)

INTENT = TableSpec(
    name="intent",
    description="Third-party intent: weekly surge score per company and topic.",
    key=("account_id", "week_start", "topic"),
    references={"account_id": "accounts"},
    time_column="week_start",
    columns=(
        Column("account_id", "id", True, "Company researching the topic.", "A000123"),
        Column("week_start", "datetime", True, "First day of the week the score covers; known once the week has ended.", "2024-03-11"),
        Column("topic", "category", True, "Research topic.", "data_integration"),
        Column("score", "float", True, "Surge score, 0-100.", "74", min_value=0, max_value=100),
    ),
)

LEADS = TableSpec(
    name="leads",
    description="People at accounts who entered the funnel.",
    key=("lead_id",),
    references={"account_id": "accounts", "campaign_id": "campaigns"},
    time_column="created_at",
    columns=(
        Column("lead_id", "id", True, "Unique identifier of the lead.", "L0004567"),
        Column("account_id", "id", True, "Company of the lead.", "A000123"),
        Column("created_at", "datetime", True, "When the lead was created.", "2024-02-01T12:00:00"),
        Column("source", "category", False, "Acquisition channel.", "paid_search", nullable=True),
        Column("job_title", "string", False, "Job title as entered.", "VP Sales Operations", nullable=True),
        Column("buying_role", "category", False, "Role in the buying committee.", "decider", allowed=BUYING_ROLES, nullable=True),
        Column("campaign_id", "id", False, "Campaign that created the lead, when known: a touch of that campaign.",
               "C0042", nullable=True),
    ),
)

OPPORTUNITIES = TableSpec(
    name="opportunities",
    description="Sales opportunities and their outcome.",
    key=("opportunity_id",),
    references={"account_id": "accounts", "lead_id": "leads"},
    time_column="created_at",
    columns=(
        Column("opportunity_id", "id", True, "Unique identifier of the opportunity.", "O0000089"),
        Column("account_id", "id", True, "Company the deal is with.", "A000123"),
        Column("lead_id", "id", False, "Lead that originated the deal, when known.", "L0004567", nullable=True),
        Column("created_at", "datetime", True, "When the opportunity was opened.", "2024-03-20"),
        Column("closed_at", "datetime", False, "When it was won or lost; empty while open.", "2024-06-02", nullable=True),
        Column("stage", "category", True, "Current stage.", "won", allowed=OPPORTUNITY_STAGES),
        Column("amount", "float", False, "Deal value (first-year contract value).", "42000", nonnegative=True,
               nullable=True, max_value=MAX_AMOUNT),
    ),
)

REVENUE = TableSpec(
    name="revenue",
    description="Invoices or recurring revenue per period; customers, churn and value derive from it.",
    references={"account_id": "accounts"},
    time_column="invoice_at",
    columns=(
        Column("account_id", "id", True, "Paying company.", "A000123"),
        Column("invoice_at", "datetime", True, "Invoice date or start of the billed period.", "2024-07-01"),
        Column("amount", "float", True, "Amount invoiced.", "3500", nonnegative=True, max_value=MAX_AMOUNT),
    ),
)

CAMPAIGNS = TableSpec(
    name="campaigns",
    description=("Marketing campaigns and their cost; leads and activities name the campaign that created or engaged "
                 "them (`campaign_id`). Needed for CAC and campaign ROI."),
    key=("campaign_id",),
    time_column="started_at",
    columns=(
        Column("campaign_id", "id", True, "Unique identifier of the campaign.", "C0042"),
        Column("name", "string", False, "Campaign name.", "Q2 webinar series: data integration", nullable=True),
        Column("channel", "category", True, "Marketing channel, as in leads' source where it creates leads.",
               "paid_search"),
        Column("started_at", "datetime", True, "First day of the campaign; it is known from then on.", "2024-04-01"),
        Column("ended_at", "datetime", False, "When the campaign ended (its cost is spread evenly over the time from "
               "start to end); empty: a one-off, its whole cost at its start.", "2024-07-01", nullable=True),
        Column("cost", "float", True, "Total cost of the campaign in the reporting currency.", "18000",
               nonnegative=True, max_value=MAX_AMOUNT),
        Column("target", "string", False, "Who the campaign targets, in words.", "mid-market software, EMEA",
               nullable=True),
    ),
)

SPEND = TableSpec(
    name="spend",
    description=("Sales and marketing spend per period that the campaigns' costs do not hold (sales salaries, agency "
                 "fees, tools): each row is for one channel or one campaign. Counted in CAC."),
    references={"campaign_id": "campaigns"},
    time_column="period_start",
    columns=(
        Column("period_start", "datetime", True, "First day of the period the amount was spent in.", "2024-04-01"),
        Column("channel", "category", False, "Channel the amount was spent on (`sales` for the sales team's cost); "
               "give this or campaign_id, not both.", "sales", nullable=True),
        Column("campaign_id", "id", False, "Campaign the amount was spent on, added to its cost; give this or "
               "channel, not both.", "C0042", nullable=True),
        Column("amount", "float", True, "Amount spent.", "52000", nonnegative=True, max_value=MAX_AMOUNT),
    ),
)


def bound_text(value: float) -> str:
    """A bound as a person reads it: ``5,000,000``, ``1600``, ``1e15``."""
    if float(value).is_integer() and abs(value) < 1e9:
        return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.0f}"
    return f"{value:g}".replace("e+", "e")


TABLES: dict[str, TableSpec] = {
    t.name: t for t in (ACCOUNTS, TECHNOGRAPHICS, ACTIVITIES, INTENT, LEADS, OPPORTUNITIES, REVENUE, CAMPAIGNS, SPEND)
}
SPEND_TABLES: tuple[str, ...] = ("campaigns", "spend")
"""Tables of spend, not of accounts: they hold no ``account_id`` and no account's event (buckets leave them out)."""
TABLE_NAMES: tuple[str, ...] = tuple(TABLES)
FILE_SUFFIXES: tuple[str, ...] = (".parquet", ".csv")
