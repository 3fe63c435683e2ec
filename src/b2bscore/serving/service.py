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
from b2bscore.serving.api import score_account_records, score_lead_records, utc_now_aware
from b2bscore.serving.byid import ByIdScoring, lead_log_rows
from b2bscore.serving.config import ServeConfig, resolve_serve_config, serve_workers
from b2bscore.serving.http import (
    RefusedRequest,
    edge_middlewares,
    field_names,
    field_paths,
    keep_request_data_out_of_logs,
)
from b2bscore.serving.online import OnlineFeatures
from b2bscore.serving.predict import ACCOUNT_COLUMNS, LEAD_COLUMNS
from b2bscore.serving.predlog import PredictionBuffer, PredictionLog
from b2bscore.serving.schemas import AccountRecord, AccountScore, LeadRecord, LeadScore, RecordError
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
        self.online = OnlineFeatures(self.home, self.settings.online_location())
        self.online.refresh()
        self.by_id = ByIdScoring(self.online)
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
            if self.online.refresh():
                log.info("online store: serving generation %s (features as of %s)",
                         self.online.manifest["generation"], self.online.manifest["as_of"])

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
    def score_leads(self, leads: list[LeadRecord] = Field(description="Leads to score: each by its lead_id (features "
                                                          "from the online store) or with its account's data.")
                    ) -> list[LeadScore]:
        """Conversion probability, 0-100 score, grade and the reasons for and against, per lead."""
        self._check(leads, "leads")
        scorer = self.store.snapshot.scorers.get("conversion")
        if scorer is None:
            raise ServiceUnavailable(f"no conversion model is loaded: {self.store.ready()[1]}")
        out: list[LeadScore | None] = [None] * len(leads)
        from_data = [k for k, record in enumerate(leads) if record.lead_id is None]
        by_id = [k for k, record in enumerate(leads) if record.lead_id is not None]
        if by_id:
            from_data += self._leads_by_id(scorer, leads, by_id, out)
        if from_data:
            from_data.sort()
            try:
                scores, features = score_lead_records(scorer, [leads[k] for k in from_data])
            except (B2BScoreError, ValueError) as exc:
                raise _refused(exc) from None
            self.predictions.add("leads", scores, features, source="api")
            labelled = self.segments.label(scores, (*LEAD_COLUMNS, "as_of"))
            for k, row in zip(from_data, labelled.to_dict("records")):
                out[k] = LeadScore(**_json_reasons(row), features_as_of=row["as_of"], source="request")
        return out

    def _leads_by_id(self, scorer, leads: list[LeadRecord], by_id: list[int], out: list) -> list[int]:
        """Score the records of ``by_id`` the online store holds into ``out`` (with the fresh lead fields a record
        carries applied on top); return those to score from their own data (the account's data came with them);
        the others get a per-record error."""
        ids = [leads[k].lead_id for k in by_id]
        fresh = {j: leads[k].lead.model_dump() for j, k in enumerate(by_id)
                 if leads[k].lead is not None and leads[k].account is None}
        scored, rows, problem = self.by_id.leads(scorer, ids, fresh)
        from_data, found = [], []
        for j, (k, result) in enumerate(zip(by_id, scored)):
            record = leads[k]
            if record.account is not None and record.lead is not None:
                from_data.append(k)  # the record carries the account's data: scored from it, as without an id
            elif result is None:
                out[k] = LeadScore(lead_id=record.lead_id, error=_unknown("lead", record.lead_id, problem, self.online))
            elif (why := _not_applied(record)) is not None:
                out[k] = LeadScore(lead_id=record.lead_id, error=RecordError(status=400, detail=why))
            else:
                tier, _ = self.segments.of(result["account_id"])
                out[k] = LeadScore(**result, tier=tier)
                found.append(j)
        if found:
            self.predictions.add_later("leads", len(found), (scorer, rows, [scored[j] for j in found], found),
                                       lead_log_rows)
        return from_data

    @bentoml.api
    def score_accounts(self, accounts: list[AccountRecord] = Field(description="Accounts to score: each by its "
                                                                   "account_id (features from the online store) or "
                                                                   "with its data.")) -> list[AccountScore]:
        """Prospects: the chance to win a first deal, with its reasons; customers: churn risk, with its reasons, and
        predicted value."""
        self._check(accounts, "accounts")
        snapshot = self.store.snapshot
        churn, cltv = snapshot.scorers.get("churn"), snapshot.scorers.get("cltv")
        propensity = snapshot.scorers.get("propensity")
        if churn is None and cltv is None and propensity is None:
            raise ServiceUnavailable(f"no propensity, churn or CLTV model is loaded: {self.store.ready()[1]}")
        out: list[AccountScore | None] = [None] * len(accounts)
        from_data = [k for k, record in enumerate(accounts) if record.account_id is None]
        by_id = [k for k, record in enumerate(accounts) if record.account_id is not None]
        if by_id:
            from_data += self._accounts_by_id((churn, cltv, propensity), accounts, by_id, out)
        if from_data:
            from_data.sort()
            try:
                scores, features = score_account_records(churn, cltv, [accounts[k] for k in from_data],
                                                         propensity=propensity)
            except (B2BScoreError, ValueError) as exc:
                raise _refused(exc) from None
            self.predictions.add("accounts", scores, features, source="api")
            labelled = self.segments.label(scores, (*ACCOUNT_COLUMNS, "as_of"))
            for k, row in zip(from_data, labelled.to_dict("records")):
                out[k] = AccountScore(**_json_reasons(_none_for_nan(row)), features_as_of=row["as_of"], source="request")
        return out

    def _accounts_by_id(self, models: tuple, accounts: list[AccountRecord], by_id: list[int], out: list) -> list[int]:
        """As :meth:`_leads_by_id`, for accounts."""
        churn, cltv, propensity = models
        ids = [accounts[k].account_id for k in by_id]
        scores, features, found, problem = self.by_id.accounts(churn, cltv, propensity, ids)
        from_data, rows = [], iter(() if scores is None else
                                   self.segments.label(scores, ACCOUNT_COLUMNS).to_dict("records"))
        for k, held in zip(by_id, found):
            record = accounts[k]
            row = next(rows) if held else None
            if record.account is not None and (row is None or record.carries_data()):
                from_data.append(k)
            elif row is None:
                out[k] = AccountScore(account_id=record.account_id,
                                      error=_unknown("account", record.account_id, problem, self.online))
            elif record.carries_data():
                out[k] = AccountScore(account_id=record.account_id, error=RecordError(status=400, detail=(
                    f"account {record.account_id!r}: events sent with an id are not applied (the features' windows "
                    "need the account's whole history, which the online store does not keep); send the id alone, or "
                    "the account with its history")))
            else:
                out[k] = AccountScore(**_json_reasons(_none_for_nan(row)), features_as_of=self.online.as_of,
                                      source="online_store")
        if scores is not None:
            self.predictions.add("accounts", scores, features, source="api")
        return from_data

    # -- operations (GET, open) --------------------------------------------------------
    @ops.get("/health")
    def health(self) -> dict:
        """Liveness: the process answers."""
        return {"status": "alive"}

    @ops.get("/ready")
    def ready(self):
        """Readiness: models are loaded (and from where); 503 with the reason when not."""
        ok, why = self.store.ready()
        body = {"ready": ok, "detail": why, "models": self.store.snapshot.versions(), "missing": dict(self.store.missing),
                "online_store": self._online_state()}
        return JSONResponse(body, status_code=200 if ok else 503)

    @ops.get("/models")
    def models(self) -> dict:
        """The versions being served, their test metrics, the registry's state and the online store's age."""
        return {**self.store.describe(), "online_store": self._online_state()}

    def _online_state(self) -> dict:
        """The online store's generation, as-of, age and whether it is older than ``store_max_age_hours``."""
        state = self.online.describe(utc_now_aware())
        age = state["age_seconds"]
        state["max_age_hours"] = self.settings.store_max_age_hours
        state["stale"] = age is not None and age > self.settings.store_max_age_hours * 3600
        return state

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


def _unknown(entity: str, key: str, problem: str | None, online: OnlineFeatures) -> RecordError:
    """The per-record error of an id the online store cannot score (the record carries no data to score it from)."""
    if problem is not None:
        return RecordError(status=503, detail=f"{entity} {key!r} cannot be scored by id: {problem}")
    data = "its account's data" if entity == "lead" else "its data"
    return RecordError(status=404, detail=(
        f"{entity} {key!r} is not in the online store (features as of {online.manifest['as_of']}; one created since "
        f"then is not there yet): send it with {data} to score it"))


def _not_applied(record: LeadRecord) -> str | None:
    """Why the data a by-id lead record carries cannot be applied on top of its stored features (None: it can)."""
    events = [name for name in ("technographics", "activities", "intent", "opportunities", "revenue", "leads")
              if getattr(record, name)]
    if events:
        return (f"lead {record.lead_id!r}: {', '.join(events)} sent with an id are not applied (the features' "
                "windows need the account's whole history, which the online store does not keep); send the id "
                "alone (with the lead's fresh fields if any), or the account and the lead with their history")
    if record.account is not None:  # with a lead row too, the record is scored from its data and never comes here
        return (f"lead {record.lead_id!r}: account fields sent with a lead id alone are not applied (the stored "
                "features were built from the account as it stood then); send the id alone, or the account and "
                "the lead with their history")
    if record.lead is not None and record.lead.custom:
        return (f"lead {record.lead_id!r}: lead.custom fields are not applied by id; send them with the account's "
                "data, or leave them out")
    return None


def _json_reasons(row: dict) -> dict:
    for key in ("reasons_for", "reasons_against"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


def _none_for_nan(row: dict) -> dict:
    return {k: (None if pd.api.types.is_scalar(v) and pd.isna(v) else v) for k, v in row.items() if k != "as_of"}
