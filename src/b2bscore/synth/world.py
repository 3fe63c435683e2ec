"""``generate_world``: run the generating process step by step and write tables plus truth."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np

from b2bscore.home import Progress, no_progress
from b2bscore.synth import tables
from b2bscore.synth.behaviour import simulate_activities
from b2bscore.synth.campaigns import simulate_campaigns
from b2bscore.synth.config import WorldConfig
from b2bscore.synth.drift import Drift, drift_record
from b2bscore.synth.firmographics import draw_population
from b2bscore.synth.funnel import NEVER, base_mrr, simulate_funnel
from b2bscore.synth.intent import simulate_intent
from b2bscore.synth.params import process_parameters
from b2bscore.synth.prospects import truth_prospects
from b2bscore.synth.orders import draw_buyers, simulate_orders, truth_buyers
from b2bscore.synth.revenue import initial_customers, price_multipliers, simulate_customers
from b2bscore.synth.technographics import draw_technographics
from b2bscore.synth.timeline import build_timeline
from b2bscore.synth.timing import focal_topics, simulate_episodes
from b2bscore.synth.truth import truth_customers, truth_leads, truth_segments
from b2bscore.synth.write import write_arrow

_STREAMS = ("accounts", "technographics", "episodes", "funnel", "customers", "activities", "intent", "topics", "orders")


@dataclass(frozen=True)
class WorldSummary:
    """What was written: the folder, rows per table (and per truth table), the period and drift."""

    out_dir: Path
    row_counts: dict[str, int]
    start: date
    end: date
    drift: dict[str, object] | None = None
    truth_row_counts: dict[str, int] = field(default_factory=dict)


def generate_world(config: WorldConfig, out_dir: Path, progress: Progress = no_progress) -> WorldSummary:
    """Generate the world described by ``config`` into ``out_dir`` (tables, then ``truth/``).

    Each step draws from its own child of ``SeedSequence(config.seed)``, so the output is
    byte-identical for the same config and a drift only perturbs the draws it must.
    """
    out_dir = Path(out_dir)
    rng = dict(zip(_STREAMS, (np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(len(_STREAMS)))))
    tl = build_timeline(config.start, config.months)
    drift = None if config.drift is None else Drift(config.drift, tl.drift_s, tl.drift_month)

    progress("accounts", 0.0)
    pop = draw_population(rng["accounts"], config.accounts, config.start.year)
    tech = draw_technographics(rng["technographics"], pop, tl)
    progress("timing", 0.1)
    intensity = simulate_episodes(rng["episodes"], pop, tl, drift)
    topics = focal_topics(rng["topics"], pop.size)
    progress("funnel", 0.2)
    initial = initial_customers(rng["customers"], pop)
    mrr = base_mrr(rng["customers"], pop)
    funnel = simulate_funnel(rng["funnel"], pop, tl, intensity, ~initial, mrr, drift)
    progress("customers", 0.3)
    won = funnel.first_win < NEVER
    start_month = np.where(initial, 0, np.where(won, tl.month_of(np.where(won, funnel.first_win, 0)) + 1, -1))
    start_month = np.where(start_month >= len(tl.month_starts), -1, start_month)
    customers = simulate_customers(rng["customers"], pop, tl, start_month, initial, drift, mrr)
    buyer = draw_buyers(rng["orders"], pop, config.revenue_mode, config.transactional_share)
    price = price_multipliers(tl, drift)
    orders = simulate_orders(rng["orders"], pop, tl, start_month, buyer, mrr, price)
    # buyers pay by order: their monthly state (read by behaviour) is alive / gone, and they get no plan invoices
    customers = replace(customers, state=np.where(buyer[:, None], orders.state, customers.state),
                        invoice=np.where(buyer[:, None], 0.0, customers.invoice))
    prospects = truth_prospects(pop, tl, intensity, funnel, initial, drift)  # from the chain the funnel saw
    # once a customer (or never a prospect) an account is no longer in market
    intensity *= (~initial[:, None]) & (tl.week_starts[None, :] < funnel.first_win[:, None])
    progress("activities", 0.4)
    acts = simulate_activities(rng["activities"], pop, tl, intensity, customers.state, funnel, topics)
    progress("intent", 0.6)
    intent = simulate_intent(rng["intent"], tl, intensity, topics, drift)
    del intensity
    campaigns = simulate_campaigns(config.seed, pop, tl, funnel, acts)  # its own stream: the world stays as it is

    progress("write", 0.7)
    ids = tables.lead_ids(len(funnel.lead_account))
    built = {
        "accounts": lambda: tables.accounts_table(pop),
        "technographics": lambda: tables.technographics_table(pop, tech),
        "activities": lambda: tables.activities_table(pop, acts, ids, campaigns.campaign_ids,
                                                      campaigns.activity_campaign),
        "intent": lambda: tables.intent_table(pop, tl, intent),
        "leads": lambda: tables.leads_table(pop, funnel, ids, campaigns.campaign_ids, campaigns.lead_campaign),
        "opportunities": lambda: tables.opportunities_table(pop, tl, funnel, ids),
        "revenue": lambda: tables.revenue_table(pop, tl, customers, orders),
        "campaigns": lambda: campaigns.campaigns,
        "spend": lambda: campaigns.spend,
    }
    counts: dict[str, int] = {}
    for i, (name, build) in enumerate(built.items()):
        table = build()
        counts[name] = table.num_rows
        write_arrow(table, out_dir / f"{name}.{config.file_format}")
        progress(f"write {name}", 0.7 + 0.2 * (i + 1) / len(built))
    del acts

    progress("truth", 0.9)
    truth = {"leads": truth_leads(pop, funnel, ids), "customers": truth_customers(pop, tl, customers, ~buyer),
             "segments": truth_segments(pop), "prospects": prospects, "campaigns": campaigns.truth}
    if buyer.any():
        truth["buyers"] = truth_buyers(pop, tl, orders, price)
    for name, table in truth.items():
        write_arrow(table, out_dir / "truth" / f"{name}.parquet")
    record = drift_record(config.drift, tl.drift_date.isoformat())
    world = {
        "config": config.model_dump(mode="json"),
        "start": tl.start.isoformat(),
        "end": tl.end.isoformat(),
        "drift": record,
        "row_counts": counts,
        "truth_row_counts": {k: t.num_rows for k, t in truth.items()},
        "parameters": process_parameters(),
    }
    (out_dir / "truth" / "world.json").write_text(json.dumps(world, indent=2, sort_keys=True) + "\n")
    progress("done", 1.0)
    return WorldSummary(out_dir=out_dir, row_counts=counts, start=tl.start, end=tl.end, drift=record,
                        truth_row_counts={k: t.num_rows for k, t in truth.items()})
