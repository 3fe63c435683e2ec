"""The BentoML scoring service: ``b2bscore serve``, or ``bentoml serve b2bscore.serving.service:ScoringService``.

It holds no business logic: it validates requests (``schemas``), turns them into the data contract's
tables (``b2bscore.records``) and calls the same scoring functions as the batch job (``predict``).

Its settings (:class:`~b2bscore.serving.config.ServeConfig`) are read once, when BentoML constructs it, from the
service arguments and the environment (see ``b2bscore.serving.config``). The HTTP edge (authentication, the
OpenAPI security scheme, request data kept out of the logs) is ``b2bscore.serving.http``.
"""

from __future__ import annotations

import json
import logging
import os
import threading

import bentoml
import pandas as pd
from bentoml.exceptions import BadInput, ServiceUnavailable
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import Field, SecretStr

from b2bscore.errors import B2BScoreError
from b2bscore.home import ProjectHome
from b2bscore.serving.api import score_account_records, score_lead_records
from b2bscore.serving.config import ServeConfig, resolve_serve_config, serve_workers
from b2bscore.serving.http import ApiKeyMiddleware, keep_request_data_out_of_logs
from b2bscore.serving.predict import ACCOUNT_COLUMNS, LEAD_COLUMNS
from b2bscore.serving.predlog import PredictionLog
from b2bscore.serving.schemas import AccountRecord, AccountScore, LeadRecord, LeadScore
from b2bscore.serving.segments import SegmentLookup
from b2bscore.serving.store import ModelStore

log = logging.getLogger(__name__)
ops = FastAPI(title="b2bscore operations")


# ``workers`` is the one setting BentoML needs before the service exists: it comes from the service arguments
# (``bentoml.use_arguments()``, BentoML's way to parametrise a service at import), never from the environment.
@bentoml.service(name="b2bscore", traffic={"timeout": 60}, workers=serve_workers(vars(bentoml.use_arguments())))
@bentoml.mount_asgi_app(ops, path="/")
class ScoringService:
    def __init__(self) -> None:
        keep_request_data_out_of_logs()
        self.settings: ServeConfig = resolve_serve_config(vars(bentoml.use_arguments()), os.environ)
        self.home = ProjectHome.resolve(self.settings.home)
        self.store = ModelStore(self.home)
        self.store.refresh()
        self.segments = SegmentLookup(self.home.segments_dir)
        self.segments.refresh()
        self.predictions = PredictionLog(self.home.predictions_dir)
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, args=(self.settings.refresh_seconds,), daemon=True,
                                         name="registry-watcher")
        self._watcher.start()

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.store.refresh()
            try:
                self.segments.refresh()
            except (OSError, ValueError, KeyError) as exc:  # a malformed version: keep the one loaded
                log.warning("could not read the latest segmentation: %s", exc)

    @bentoml.on_shutdown
    def _shutdown(self) -> None:
        self._stop.set()

    def __is_ready__(self) -> bool:
        return self.store.ready()[0]

    # -- scoring ------------------------------------------------------------------------
    def _check(self, records: list, kind: str) -> None:
        if not records:
            raise BadInput(f"{kind}: the batch is empty; send at least one record")
        if len(records) > self.settings.max_batch:
            raise BadInput(f"{kind}: {len(records)} records is over the maximum batch of {self.settings.max_batch}; "
                           "split the request")

    @bentoml.api
    def score_leads(self, leads: list[LeadRecord] = Field(description="Leads to score, each with its account's data.")
                    ) -> list[LeadScore]:
        """Conversion probability, 0-100 score, grade and the reasons for and against, per lead."""
        self._check(leads, "leads")
        scorer = self.store.snapshot.scorers.get("conversion")
        if scorer is None:
            raise ServiceUnavailable(f"no conversion model is loaded: {self.store.ready()[1]}")
        try:
            scores, features = score_lead_records(scorer, leads)
        except (B2BScoreError, ValueError) as exc:
            raise BadInput(str(exc)) from None
        self.predictions.append("leads", scores, features, source="api")
        labelled = self.segments.label(scores, LEAD_COLUMNS)
        return [LeadScore(**_json_reasons(row)) for row in labelled.to_dict("records")]

    @bentoml.api
    def score_accounts(self, accounts: list[AccountRecord] = Field(description="Accounts to score.")) -> list[AccountScore]:
        """Churn risk and predicted value (customers), with the reasons behind the churn risk."""
        self._check(accounts, "accounts")
        snapshot = self.store.snapshot
        churn, cltv = snapshot.scorers.get("churn"), snapshot.scorers.get("cltv")
        if churn is None and cltv is None:
            raise ServiceUnavailable(f"no churn or CLTV model is loaded: {self.store.ready()[1]}")
        try:
            scores, features = score_account_records(churn, cltv, accounts)
        except (B2BScoreError, ValueError) as exc:
            raise BadInput(str(exc)) from None
        self.predictions.append("accounts", scores, features, source="api")
        labelled = self.segments.label(scores, ACCOUNT_COLUMNS)
        return [AccountScore(**_json_reasons(_none_for_nan(row))) for row in labelled.to_dict("records")]

    # -- operations (GET, open) --------------------------------------------------------
    @ops.get("/health")
    def health(self) -> dict:
        """Liveness: the process answers."""
        return {"status": "alive"}

    @ops.get("/ready")
    def ready(self):
        """Readiness: models are loaded (and from where); 503 with the reason when not."""
        ok, why = self.store.ready()
        body = {"ready": ok, "detail": why, "models": self.store.snapshot.versions()}
        return JSONResponse(body, status_code=200 if ok else 503)

    @ops.get("/models")
    def models(self) -> dict:
        """The versions being served, their test metrics, and the registry's state."""
        return self.store.describe()


def _api_key_of_this_worker() -> SecretStr | None:
    """The API key in the settings of the service this process runs. BentoML constructs the service before
    the process accepts requests."""
    return bentoml.get_current_service().settings.api_key


ScoringService.add_asgi_middleware(ApiKeyMiddleware, api_key=_api_key_of_this_worker)


def _json_reasons(row: dict) -> dict:
    for key in ("reasons_for", "reasons_against"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


def _none_for_nan(row: dict) -> dict:
    return {k: (None if pd.api.types.is_scalar(v) and pd.isna(v) else v) for k, v in row.items() if k != "as_of"}
