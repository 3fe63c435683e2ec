"""Accounts: planted segment first, then firmographics, latent stack and latent fit drawn from it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from b2bscore.data.contract import FUNDING_STAGES, OWNERSHIP, REGIONS
from b2bscore.synth._draw import categorical, sigmoid, weights
from b2bscore.synth.params import (
    COEFFICIENTS,
    COUNTRIES,
    INDUSTRIES,
    REVENUE_PER_EMPLOYEE,
    SEGMENTS,
)

_NAME_HEADS = np.array(["Nor", "Vex", "Quan", "Aur", "Bel", "Cor", "Dyn", "El", "Fal", "Gal", "Hel", "Ion", "Jun",
                        "Kal", "Lum", "Mer", "Nov", "Orb", "Pra", "Quo", "Rex", "Sol", "Tal", "Ul", "Ver", "Wex",
                        "Xan", "Zen", "Ast", "Bry", "Cal", "Dor"])
_NAME_TAILS = np.array(["vex", "tra", "ion", "ora", "ent", "ix", "ara", "eon", "ica", "una", "os", "ium", "ex",
                        "ali", "yn", "ero"])
_NAME_SUFFIXES: dict[str, tuple[str, ...]] = {
    "software": ("Systems", "Labs", "Software", "Technologies"),
    "financial_services": ("Capital", "Financial", "Partners", "Bank"),
    "manufacturing": ("Industries", "Manufacturing", "Works", "Components"),
    "healthcare": ("Health", "Medical", "Care", "Clinics"),
    "retail": ("Retail", "Stores", "Brands", "Outfitters"),
    "professional_services": ("Consulting", "Advisors", "Group", "Associates"),
    "education": ("Academy", "Institute", "University", "Learning"),
    "logistics": ("Logistics", "Freight", "Transport", "Shipping"),
}


@dataclass(frozen=True)
class Population:
    """Per-account arrays, aligned by account index (row ``i`` is account ``A{i+1:07d}``)."""

    account_id: np.ndarray
    segment: np.ndarray
    industry: np.ndarray  # index into INDUSTRIES
    employees: np.ndarray
    annual_revenue: np.ndarray
    region: np.ndarray  # index into REGIONS
    country: np.ndarray
    founded_year: np.ndarray
    ownership: np.ndarray  # index into OWNERSHIP
    funding_stage: np.ndarray  # index into FUNDING_STAGES
    name: np.ndarray
    legacy: np.ndarray  # latent stack flags, realised in technographics
    modern: np.ndarray
    competitor: np.ndarray
    fit: np.ndarray

    @property
    def size(self) -> int:
        return len(self.account_id)

    @property
    def size_factor(self) -> np.ndarray:
        """Committee/usage scale: 0.5 at 10 employees, 1 at 100, 2 at 10,000."""
        return np.clip(np.log10(self.employees) / 2.0, 0.5, 2.5)


def draw_population(rng: np.random.Generator, n: int, start_year: int) -> Population:
    """Draw ``n`` accounts; the segment drives every other attribute."""
    segment = categorical(rng, np.array([s.share for s in SEGMENTS]), n).astype(np.int8)
    industry = categorical(rng, np.stack([weights(s.industries, INDUSTRIES) for s in SEGMENTS])[segment])
    region = categorical(rng, np.stack([weights(s.regions, REGIONS) for s in SEGMENTS])[segment])
    mu = np.array([s.log_employees_mean for s in SEGMENTS])[segment]
    sd = np.array([s.log_employees_sd for s in SEGMENTS])[segment]
    employees = np.clip(np.round(np.exp(rng.normal(mu, sd))), 5, 200_000).astype(np.int64)
    rpe = np.array([REVENUE_PER_EMPLOYEE[i] for i in INDUSTRIES])[industry]
    annual_revenue = np.round(employees * rpe * np.exp(rng.normal(0.0, 0.35, n)), -3)
    country = _countries(rng, region)
    age = np.clip(np.round(np.exp(rng.normal(np.log(6 + 5 * np.log10(employees)), 0.6))), 1, 170).astype(np.int64)
    ownership, funding = _ownership_funding(rng, industry, employees, age)
    seg_p = {k: np.array([getattr(s, k) for s in SEGMENTS])[segment] for k in ("p_legacy", "p_modern", "p_competitor")}
    legacy = rng.random(n) < seg_p["p_legacy"]
    modern = rng.random(n) < seg_p["p_modern"]
    competitor = rng.random(n) < seg_p["p_competitor"]
    fit = _fit(rng, segment, employees, region, legacy, modern, competitor)
    return Population(
        account_id=np.char.add("A", np.char.zfill(np.arange(1, n + 1).astype(str), 7)),
        segment=segment, industry=industry, employees=employees, annual_revenue=annual_revenue, region=region,
        country=country, founded_year=start_year - age, ownership=ownership, funding_stage=funding,
        name=_names(rng, industry), legacy=legacy, modern=modern, competitor=competitor, fit=fit,
    )


def _fit(rng: np.random.Generator, segment: np.ndarray, employees: np.ndarray, region: np.ndarray,
         legacy: np.ndarray, modern: np.ndarray, competitor: np.ndarray) -> np.ndarray:
    """Latent fit: mid-market/enterprise, NA/EMEA, modern stack up; legacy and competitor users down."""
    c = COEFFICIENTS
    target_region = np.isin(region, [REGIONS.index("north_america"), REGIONS.index("emea")])
    logit = (np.array([s.fit_base for s in SEGMENTS])[segment]
             + c.fit_target_size * ((employees >= 200) & (employees <= 5000))
             + c.fit_tiny * (employees < 20)
             + np.where(target_region, c.fit_target_region, -c.fit_target_region)
             + c.fit_modern * modern + c.fit_legacy * legacy + c.fit_competitor * competitor
             + rng.normal(0.0, c.fit_noise_sd, len(segment)))
    return sigmoid(logit)


def _countries(rng: np.random.Generator, region: np.ndarray) -> np.ndarray:
    out = np.empty(len(region), dtype="<U2")
    u = rng.random(len(region))
    for r, name in enumerate(REGIONS):
        codes = list(COUNTRIES[name])
        cum = np.cumsum(list(COUNTRIES[name].values()))
        mask = region == r
        out[mask] = np.array(codes)[np.minimum(np.searchsorted(cum / cum[-1], u[mask], side="right"), len(codes) - 1)]
    return out


def _ownership_funding(rng: np.random.Generator, industry: np.ndarray, employees: np.ndarray,
                       age: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ownership from size and sector; funding stage consistent with ownership, size and age."""
    n = len(industry)
    u, v = rng.random(n), rng.random(n)
    public_sector = np.isin(industry, [INDUSTRIES.index("education"), INDUSTRIES.index("healthcare")])
    p_public = np.where(employees > 5000, 0.5, np.where(employees > 1000, 0.15, 0.0))
    ownership = np.select(
        [u < p_public, public_sector & (u < p_public + 0.25), public_sector & (u < p_public + 0.4),
         (employees > 200) & (u > 0.9)],
        [OWNERSHIP.index("public"), OWNERSHIP.index("nonprofit"), OWNERSHIP.index("government"),
         OWNERSHIP.index("subsidiary")],
        default=OWNERSHIP.index("private"))
    venture = np.isin(industry, [INDUSTRIES.index("software"), INDUSTRIES.index("financial_services")]) & (age < 15)
    f = FUNDING_STAGES.index
    private_stage = np.select(
        [venture & (employees < 30), venture & (employees < 200), venture & (employees < 1000), venture,
         (employees > 500) & (v < 0.4), v < 0.6],
        [np.where(v < 0.5, f("seed"), f("series_a")), np.where(v < 0.5, f("series_a"), f("series_b")),
         np.where(v < 0.5, f("series_b"), f("series_c_plus")), f("series_c_plus"), f("private_equity"),
         f("bootstrapped")],
        default=f("none"))
    funding = np.select([ownership == OWNERSHIP.index("public"), ownership == OWNERSHIP.index("private")],
                        [f("public"), private_stage], default=f("none"))
    return ownership.astype(np.int8), funding.astype(np.int8)


def _names(rng: np.random.Generator, industry: np.ndarray) -> np.ndarray:
    n = len(industry)
    stem = np.char.add(_NAME_HEADS[rng.integers(0, len(_NAME_HEADS), n)],
                       _NAME_TAILS[rng.integers(0, len(_NAME_TAILS), n)])
    pick = rng.integers(0, 4, n)
    suffix = np.empty(n, dtype="<U16")
    for i, name in enumerate(INDUSTRIES):
        mask = industry == i
        suffix[mask] = np.array(_NAME_SUFFIXES[name])[pick[mask]]
    return np.char.add(np.char.add(stem, " "), suffix)
