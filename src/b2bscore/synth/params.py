"""Parameters of the generating process: planted segments, technology catalogue, coefficients.

They are module constants (not config) because they *are* the ground truth that
``truth/world.json`` records and that downstream tests are checked against.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

INDUSTRIES: tuple[str, ...] = (
    "software", "financial_services", "manufacturing", "healthcare",
    "retail", "professional_services", "education", "logistics",
)
TOPICS: tuple[str, ...] = (
    "data_integration", "lead_scoring", "sales_analytics", "crm_migration",
    "revenue_operations", "marketing_automation", "customer_success", "data_privacy",
)
SOURCES: tuple[str, ...] = (
    "paid_search", "organic", "events", "outbound", "referral", "partner", "content_syndication",
)
UNKNOWN_ACTIVITY_TYPE = "chat_message"
"""An activity type the contract does not list; loaders must count it as 'other'."""

# --- technographics -------------------------------------------------------------------------
LEGACY_TECH: tuple[str, ...] = ("sap_ecc", "oracle_ebs", "lotus_notes", "on_prem_exchange", "siebel")
COMPETITOR_TECH: tuple[str, ...] = ("rivalscore", "leadmetrics")
MODERN_TECH: tuple[str, ...] = ("aws", "gcp", "azure", "snowflake", "salesforce", "hubspot", "slack", "databricks")
OTHER_TECH: tuple[str, ...] = ("microsoft_365", "okta", "tableau", "marketo", "segment", "zendesk", "netsuite")
TECH_GROUPS: dict[str, tuple[str, ...]] = {
    "legacy": LEGACY_TECH, "competitor": COMPETITOR_TECH, "modern": MODERN_TECH, "other": OTHER_TECH,
}
"""Which technologies are legacy / competitor / modern: configure ICP flags against this."""

TECH_CATEGORY: dict[str, str] = {
    "sap_ecc": "erp", "oracle_ebs": "erp", "lotus_notes": "collaboration", "on_prem_exchange": "collaboration",
    "siebel": "crm", "rivalscore": "marketing_automation", "leadmetrics": "analytics", "aws": "cloud",
    "gcp": "cloud", "azure": "cloud", "snowflake": "data_warehouse", "salesforce": "crm", "hubspot": "crm",
    "slack": "collaboration", "databricks": "data_warehouse", "microsoft_365": "collaboration",
    "okta": "security", "tableau": "analytics", "marketo": "marketing_automation", "segment": "analytics",
    "zendesk": "other", "netsuite": "erp",
}
# Probability of each technology given the account's stack flag is on (legacy / competitor /
# modern) -- modern tools also appear at 15% of that rate without the flag.
TECH_PROB: dict[str, float] = {
    "sap_ecc": 0.5, "oracle_ebs": 0.35, "lotus_notes": 0.2, "on_prem_exchange": 0.45, "siebel": 0.25,
    "rivalscore": 0.65, "leadmetrics": 0.5, "aws": 0.55, "gcp": 0.2, "azure": 0.35, "snowflake": 0.35,
    "salesforce": 0.5, "hubspot": 0.35, "slack": 0.6, "databricks": 0.15, "microsoft_365": 0.6,
    "okta": 0.3, "tableau": 0.25, "marketo": 0.2, "segment": 0.1, "zendesk": 0.25, "netsuite": 0.15,
}
TECH_ORDER: tuple[str, ...] = LEGACY_TECH + COMPETITOR_TECH + MODERN_TECH + OTHER_TECH


@dataclass(frozen=True)
class Segment:
    """A planted segment: it draws the firmographics and drives timing, conversion and churn."""

    name: str
    share: float
    industries: dict[str, float]
    regions: dict[str, float]
    log_employees_mean: float
    log_employees_sd: float
    p_legacy: float
    p_modern: float
    p_competitor: float
    fit_base: float
    in_market_rate: float  # weekly hazard of starting a buying episode (scaled by fit)
    lead_sources: dict[str, float]
    h_to_r: float  # monthly healthy -> at_risk
    r_to_h: float  # monthly at_risk -> healthy
    r_to_c: float  # monthly at_risk -> churned
    h_to_c: float  # monthly healthy -> churned
    price: float  # list-price multiplier
    p_expand: float  # monthly chance a healthy customer expands


_ENTERPRISE_SOURCES = {"paid_search": .12, "organic": .15, "events": .2, "outbound": .25, "referral": .08,
                       "partner": .12, "content_syndication": .08}
_MIDMARKET_SOURCES = {"paid_search": .22, "organic": .2, "events": .12, "outbound": .18, "referral": .08,
                      "partner": .08, "content_syndication": .12}
_SMB_SOURCES = {"paid_search": .35, "organic": .3, "events": .05, "outbound": .08, "referral": .1,
                "partner": .04, "content_syndication": .08}

SEGMENTS: tuple[Segment, ...] = (
    Segment("enterprise_software_na", .12, {"software": .55, "financial_services": .35, "professional_services": .10},
            {"north_america": .85, "emea": .1, "apac": .05}, 8.2, 0.9, .25, .8, .3, 1.0, .012,
            _ENTERPRISE_SOURCES, .02, .35, .12, .002, 1.6, .06),
    Segment("midmarket_tech_emea", .18, {"software": .45, "financial_services": .25, "professional_services": .2,
                                         "logistics": .1},
            {"emea": .8, "north_america": .1, "apac": .1}, 5.9, 0.8, .2, .7, .25, .8, .011,
            _MIDMARKET_SOURCES, .03, .3, .18, .003, 1.0, .05),
    Segment("midmarket_manufacturing_emea", .22, {"manufacturing": .6, "logistics": .25, "retail": .15},
            {"emea": .55, "north_america": .25, "apac": .12, "latin_america": .08}, 6.4, 0.9, .7, .25, .2, -.3, .007,
            _MIDMARKET_SOURCES, .025, .3, .15, .002, .9, .03),
    Segment("smb_services", .33, {"professional_services": .4, "retail": .3, "software": .2, "logistics": .1},
            {"north_america": .4, "emea": .3, "latin_america": .15, "apac": .15}, 3.4, 0.9, .1, .4, .15, -.2, .009,
            _SMB_SOURCES, .07, .2, .3, .01, .7, .02),
    Segment("public_healthcare_education", .15, {"healthcare": .6, "education": .4},
            {"north_america": .5, "emea": .3, "apac": .1, "latin_america": .1}, 7.0, 1.1, .6, .3, .1, -.6, .004,
            _MIDMARKET_SOURCES, .02, .3, .1, .002, .8, .02),
)
SEGMENT_NAMES: tuple[str, ...] = tuple(s.name for s in SEGMENTS)

COUNTRIES: dict[str, dict[str, float]] = {
    "north_america": {"US": .85, "CA": .15},
    "latin_america": {"BR": .4, "MX": .3, "AR": .15, "CL": .15},
    "emea": {"GB": .25, "DE": .25, "FR": .15, "NL": .1, "SE": .08, "ES": .07, "ZA": .05, "AE": .05},
    "apac": {"AU": .3, "JP": .25, "SG": .2, "IN": .25},
}
REVENUE_PER_EMPLOYEE: dict[str, float] = {
    "software": 250e3, "financial_services": 400e3, "manufacturing": 300e3, "healthcare": 150e3,
    "retail": 200e3, "professional_services": 180e3, "education": 90e3, "logistics": 220e3,
}


@dataclass(frozen=True)
class Coefficients:
    """Scalar coefficients of fit, timing, conversion and customer value."""

    # latent fit = sigmoid(segment base + terms below + noise)
    fit_modern: float = 0.9
    fit_legacy: float = -0.7
    fit_competitor: float = -0.9
    fit_target_size: float = 0.5  # 200..5000 employees
    fit_tiny: float = -0.8  # fewer than 20 employees
    fit_target_region: float = 0.3  # north_america / emea, else minus this
    fit_noise_sd: float = 0.5
    # timing
    episode_mean_weeks: float = 6.0
    lead_rate_in_market: float = 0.45  # leads / week at intensity 1 and size factor 1
    lead_rate_background: float = 0.006
    # conversion logit
    conv_intercept: float = -3.8
    conv_fit: float = 3.0  # per unit of (fit - 0.5)
    conv_intensity: float = 2.2
    # opportunities
    lost_opportunity_ratio: float = 1.8  # P(lost opportunity | not converted) = min(0.6, ratio * p)
    # customers
    initial_customer_base: float = 0.02
    initial_customer_fit: float = 0.15
    initial_at_risk: float = 0.15
    mrr_scale: float = 40.0  # MRR = price * scale * employees ** exponent
    mrr_exponent: float = 0.55
    expansion_step: float = 0.2
    at_risk_usage: float = 0.35  # usage multiplier while at risk


COEFFICIENTS = Coefficients()
ROLE_WEIGHTS: dict[str, float] = {"initiator": .15, "influencer": .25, "decider": .12, "buyer": .1, "user": .3,
                                  "gatekeeper": .08}
ROLE_LOGIT: dict[str, float] = {"initiator": .2, "influencer": 0., "decider": .6, "buyer": .4, "user": -.4,
                                "gatekeeper": -.7}
SOURCE_LOGIT: dict[str, float] = {"paid_search": 0., "organic": .1, "events": .3, "outbound": -.2, "referral": .6,
                                  "partner": .3, "content_syndication": -.6}
JOB_TITLES: dict[str, tuple[str, ...]] = {
    "initiator": ("Sales Operations Manager", "Marketing Operations Manager", "RevOps Analyst"),
    "influencer": ("Head of Demand Generation", "Senior Data Analyst", "Director of Marketing"),
    "decider": ("VP Sales", "Chief Revenue Officer", "VP Marketing"),
    "buyer": ("Procurement Manager", "Head of Procurement", "Finance Director"),
    "user": ("Sales Development Representative", "Account Executive", "Marketing Specialist"),
    "gatekeeper": ("IT Security Manager", "Executive Assistant", "IT Director"),
}


def process_parameters() -> dict[str, object]:
    """Every parameter of the process as plain JSON-able data, for ``truth/world.json``."""
    return {
        "segments": [asdict(s) for s in SEGMENTS],
        "coefficients": asdict(COEFFICIENTS),
        "role_logit": ROLE_LOGIT,
        "source_logit": SOURCE_LOGIT,
        "role_weights": ROLE_WEIGHTS,
        "tech_groups": {k: list(v) for k, v in TECH_GROUPS.items()},
        "topics": list(TOPICS),
        "industries": list(INDUSTRIES),
    }
