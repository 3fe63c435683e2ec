"""The BentoML scoring service: ``b2bscore serve``, or ``bentoml serve b2bscore.serving.service:ScoringService``.

It holds no business logic: it validates requests (``schemas``), turns them into the data contract's
tables (``b2bscore.records``) and calls the same scoring functions as the batch job (``predict``).

Its settings (:class:`~b2bscore.serving.config.ServeConfig`) are read once, when BentoML constructs it, from the
service arguments and the environment (see ``b2bscore.serving.config``). The HTTP edge (unknown paths, request
metrics, authentication, readiness, body size and type, request data kept out of the logs) is
``b2bscore.serving.http``. Scored rows go to the prediction log in parts of many requests
(:class:`~b2bscore.serving.predlog.PredictionBuffer`), written by a timer and when the service stops.
"""

from __future__ import annotations

import json
import logging
import os
import threading

import bentoml
import pandas as pd
from bentoml._internal.configuration.containers import BentoMLContainer
from bentoml._internal.server.http.instruments import RunnerTrafficMetricsMiddleware
from bentoml.exceptions import ServiceUnavailable
from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import Field

from b2bscore.errors import B2BScoreError
from b2bscore.home import ProjectHome
from b2bscore.serving.api import score_account_records, score_lead_records
from b2bscore.serving.config import ServeConfig, resolve_serve_config, serve_workers
from b2bscore.serving.http import (
    RefusedRequest,
    edge_middlewares,
    field_names,
    field_paths,
    keep_request_data_out_of_logs,
)
from b2bscore.serving.predict import ACCOUNT_COLUMNS, LEAD_COLUMNS
from b2bscore.serving.predlog import PredictionBuffer, PredictionLog
from b2bscore.serving.schemas import AccountRecord, AccountScore, LeadRecord, LeadScore
from b2bscore.serving.segments import SegmentLookup
from b2bscore.serving.store import ModelStore

log = logging.getLogger(__name__)
ops = FastAPI(title="b2bscore operations", docs_url=None, redoc_url=None, openapi_url=None)  # BentoML has /docs
_FIELDS = field_names(LeadRecord, AccountRecord)


# ``workers`` is the one setting BentoML needs before the service exists: it comes from the service arguments
# (``bentoml.use_arguments()``, BentoML's way to parametrise a service at import), never from the environment.
# BentoML's request metrics are turned off here and added back behind the service's path check (see
# ``b2bscore.serving.http``): BentoML puts its own in front of every middleware, where each unknown path would add
# series; /metrics is then the service's (``metrics`` below).
@bentoml.service(name="b2bscore", traffic={"timeout": 60}, workers=serve_workers(vars(bentoml.use_arguments())),
                 metrics={"enabled": False})
@bentoml.mount_asgi_app(ops, path="/")
class ScoringService:
    def __init__(self) -> None:
        keep_request_data_out_of_logs(_FIELDS)
        self.settings: ServeConfig = resolve_serve_config(vars(bentoml.use_arguments()), os.environ)
        self.home = ProjectHome.resolve(self.settings.home)
        self.store = ModelStore(self.home)
        self.store.refresh()
        self.segments = SegmentLookup(self.home.segments_dir)
        self._refresh_segments()
        self.predictions = PredictionBuffer(PredictionLog(self.home.predictions_dir),
                                            max_rows=self.settings.log_flush_rows,
                                            max_seconds=self.settings.log_flush_seconds)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._watch, args=(self.settings.refresh_seconds,), daemon=True,
                             name="registry-watcher"),
            threading.Thread(target=self._write_log, args=(min(1.0, self.settings.log_flush_seconds / 2),),
                             daemon=True, name="prediction-log")]
        for thread in self._threads:
            thread.start()

    def _watch(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.store.refresh()
            self._refresh_segments()

    def _refresh_segments(self) -> None:
        try:
            self.segments.refresh()
        except (OSError, ValueError, KeyError, B2BScoreError) as exc:  # a malformed version: keep the one loaded
            log.warning("could not read the latest segmentation: %s", exc)

    def _write_log(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.predictions.flush_due()

    @bentoml.on_shutdown
    def _shutdown(self) -> None:
        self._stop.set()
        written = self.predictions.flush()
        log.info("stopping: wrote %d prediction-log part(s)", len(written))

    def __is_ready__(self) -> bool:
        return self.store.ready()[0]

    def unavailable(self, path: str) -> str | None:
        """Why the scoring endpoint ``path`` cannot answer now (None: it can, or it is no scoring endpoint)."""
        if path == "/score_leads":
            return self.store.unavailable("conversion")
        if path == "/score_accounts":
            why = [self.store.unavailable(task) for task in ("propensity", "churn", "cltv")]
            if any(reason is None for reason in why):
                return None
            ok, detail = self.store.ready()
            return detail if not ok else f"no propensity, churn or CLTV model is loaded: {'; '.join(why)}"
        return None

    # -- scoring ------------------------------------------------------------------------
    def _check(self, records: list, kind: str) -> None:
        if not records:
            raise RefusedRequest(f"{kind}: the batch is empty; send at least one record",
                                 log_reason=f"{kind}: the batch is empty")
        if len(records) > self.settings.max_batch:
            raise RefusedRequest(f"{kind}: {len(records)} records is over the maximum batch of "
                                 f"{self.settings.max_batch}; split the request",
                                 log_reason=f"{kind}: {len(records)} records, over the maximum batch")

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
            raise _refused(exc) from None
        self.predictions.add("leads", scores, features, source="api")
        labelled = self.segments.label(scores, LEAD_COLUMNS)
        return [LeadScore(**_json_reasons(row)) for row in labelled.to_dict("records")]

    @bentoml.api
    def score_accounts(self, accounts: list[AccountRecord] = Field(description="Accounts to score.")) -> list[AccountScore]:
        """Prospects: the chance to win a first deal, with its reasons; customers: churn risk, with its reasons, and
        predicted value."""
        self._check(accounts, "accounts")
        snapshot = self.store.snapshot
        churn, cltv = snapshot.scorers.get("churn"), snapshot.scorers.get("cltv")
        propensity = snapshot.scorers.get("propensity")
        if churn is None and cltv is None and propensity is None:
            raise ServiceUnavailable(f"no propensity, churn or CLTV model is loaded: {self.store.ready()[1]}")
        try:
            scores, features = score_account_records(churn, cltv, accounts, propensity=propensity)
        except (B2BScoreError, ValueError) as exc:
            raise _refused(exc) from None
        self.predictions.add("accounts", scores, features, source="api")
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
        body = {"ready": ok, "detail": why, "models": self.store.snapshot.versions(), "missing": dict(self.store.missing)}
        return JSONResponse(body, status_code=200 if ok else 503)

    @ops.get("/models")
    def models(self) -> dict:
        """The versions being served, their test metrics, and the registry's state."""
        return self.store.describe()

    @ops.get("/docs")
    def docs(self) -> RedirectResponse:
        """The API's documentation page: BentoML's, at the root."""
        return RedirectResponse("/")

    @ops.get("/metrics")
    def metrics(self) -> Response:
        """Prometheus metrics of every worker (BentoML's request metrics among them); the API key is needed
        unless the service runs with ``metrics_open``."""
        client = BentoMLContainer.metrics_client.get()
        return Response(client.generate_latest(), media_type=client.CONTENT_TYPE_LATEST)


def _this_worker() -> ScoringService:
    """The service this process runs. BentoML constructs it before the process accepts requests."""
    return bentoml.get_current_service()


def _refused(exc: Exception) -> RefusedRequest:
    """A 400 naming the problem to the client; the log gets only the fields it names."""
    fields = field_paths(str(exc), _FIELDS)
    return RefusedRequest(str(exc), log_reason="the records do not fit the data contract"
                          + (f" (fields: {', '.join(fields[:10])})" if fields else ""))


_SCORING_PATHS = tuple(api.route for api in ScoringService.apis.values())
for _middleware, _options in edge_middlewares(
        known_paths=_SCORING_PATHS, json_paths=_SCORING_PATHS,  # and http.SYSTEM_PATHS: BentoML's and `ops`'s
        api_key=lambda: _this_worker().settings.api_key, metrics_open=lambda: _this_worker().settings.metrics_open,
        unavailable=lambda path: _this_worker().unavailable(path),
        max_bytes=lambda: int(_this_worker().settings.max_body_mb * 2**20),
        metrics=(RunnerTrafficMetricsMiddleware, {"namespace": "bentoml_service"})):
    ScoringService.add_asgi_middleware(_middleware, **_options)


def _json_reasons(row: dict) -> dict:
    for key in ("reasons_for", "reasons_against"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


def _none_for_nan(row: dict) -> dict:
    return {k: (None if pd.api.types.is_scalar(v) and pd.isna(v) else v) for k, v in row.items() if k != "as_of"}
