"""Tiny, deterministic data sets built in code, shared by the unit tests."""

from __future__ import annotations

import pandas as pd

from b2bscore.data.dataset import Dataset

T = pd.Timestamp


def tiny_dataset() -> Dataset:
    """Three accounts with a little of everything; as-of 2024-04-01 is the usual query time."""
    accounts = pd.DataFrame({
        "account_id": ["A1", "A2", "A3"],
        "name": ["Norvex Systems", "Quill Foods", "Tiny Shop"],
        "industry": ["software", "retail", "software"],
        "employees": [800.0, 12000.0, 9.0],
        "annual_revenue": [9e7, 3e9, 4e5],
        "country": ["US", "DE", "GB"],
        "region": ["north_america", "emea", "emea"],
        "founded_year": [2010.0, 1950.0, 2021.0],
        "ownership": ["private", "public", "private"],
        "funding_stage": ["series_b", "public", "seed"],
    })
    technographics = pd.DataFrame({
        "account_id": ["A1", "A1", "A1", "A2", "A2", "A3"],
        "technology": ["salesforce", "aws", "slack", "sap_ecc", "rivalscore", "hubspot"],
        "category": ["crm", "cloud", "collaboration", "erp", "marketing_automation", "crm"],
        "first_seen_at": [T("2022-01-01"), T("2022-06-01"), T("2024-03-01"), T("2015-01-01"), T("2023-01-01"), T("2024-05-01")],
        "last_seen_at": [pd.NaT, pd.NaT, pd.NaT, pd.NaT, T("2024-02-01"), pd.NaT],
    })
    activities = pd.DataFrame({
        "account_id": ["A1", "A1", "A1", "A1", "A1", "A2", "A2", "A1", "A3"],
        "lead_id": ["L1", "L1", "L2", None, "L1", "L3", "L3", "L2", None],
        "occurred_at": [T("2024-03-30"), T("2024-03-25"), T("2024-03-10"), T("2024-01-15"), T("2024-03-31 23:59"),
                        T("2024-03-29"), T("2024-02-20"), T("2024-04-01"), T("2023-12-01")],
        "activity_type": ["pricing_page_view", "email_open", "email_click", "web_visit", "pricing_page_view",
                          "product_login", "product_login", "demo_request", "chat_message"],
        "topic": [None] * 9,
        "value": [1.0, 1.0, 1.0, 3.0, 1.0, 45.0, 30.0, 1.0, 1.0],
    })
    intent = pd.DataFrame({
        "account_id": ["A1", "A1", "A1", "A2"],
        "week_start": [T("2024-03-18"), T("2024-03-18"), T("2024-03-25"), T("2024-02-05")],
        "topic": ["lead_scoring", "crm_migration", "lead_scoring", "data_integration"],
        "score": [80.0, 40.0, 90.0, 70.0],
    })
    leads = pd.DataFrame({
        "lead_id": ["L1", "L2", "L3"],
        "account_id": ["A1", "A1", "A2"],
        "created_at": [T("2024-03-01"), T("2024-03-05"), T("2023-06-01")],
        "source": ["paid_search", "events", "outbound"],
        "job_title": ["VP Sales", "Marketing Manager", None],
        "buying_role": ["decider", "influencer", "user"],
    })
    opportunities = pd.DataFrame({
        "opportunity_id": ["O1", "O2"],
        "account_id": ["A2", "A1"],
        "lead_id": ["L3", None],
        "created_at": [T("2023-07-01"), T("2024-03-20")],
        "closed_at": [T("2023-09-01"), pd.NaT],
        "stage": ["won", "open"],
        "amount": [50000.0, 20000.0],
    })
    revenue = pd.DataFrame({
        "account_id": ["A2"] * 7,
        "invoice_at": [T("2023-09-01"), T("2023-10-01"), T("2023-11-01"), T("2023-12-01"), T("2024-01-01"), T("2024-02-01"), T("2024-03-01")],
        "amount": [4000.0] * 7,
    })
    return Dataset(accounts=accounts, technographics=technographics, activities=activities, intent=intent,
                   leads=leads, opportunities=opportunities, revenue=revenue)
