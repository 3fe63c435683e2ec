"""The BentoML scoring service: ``bentoml serve b2bscore.serving.service:ScoringService`` or ``b2bscore serve``.

It holds no business logic: it validates requests (``schemas``), turns them into the data contract's
tables (``b2bscore.records``) and calls the same scoring functions as the batch job (``predict``).

Settings come from the environment, so the same class runs under ``bentoml serve`` and in a Bento:
``B2BSCORE_HOME`` (project home), ``MLFLOW_TRACKING_URI`` (a shared registry), ``B2BSCORE_API_KEY``
(bearer token; unset = no authentication), ``B2BSCORE_MAX_BATCH`` (default 1000 records per request),
``B2BSCORE_REFRESH_SECONDS`` (how often the registry is asked whether a champion moved; default 30),
``B2BSCORE_WORKERS`` (worker processes, each with its own models; default 1 — scoring is CPU-bound, so up to
one per core).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading

import bentoml
import pandas as pd
from bentoml.exceptions import BadInput, BentoMLException, ServiceUnavailable
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import Field
from pydantic import ValidationError as PydanticValidationError

from b2bscore.errors import B2BScoreError
from b2bscore.home import ProjectHome
from b2bscore.serving.api import score_account_records, score_lead_records
from b2bscore.serving.predict import ACCOUNT_COLUMNS, LEAD_COLUMNS
from b2bscore.serving.predlog import PredictionLog
from b2bscore.serving.schemas import AccountRecord, AccountScore, LeadRecord, LeadScore
from b2bscore.serving.segments import SegmentLookup
from b2bscore.serving.store import ModelStore

log = logging.getLogger(__name__)


class _NoRequestDataInLogs(logging.Filter):
    """BentoML logs every refused request with a traceback whose message quotes the offending input. A client
    error is logged instead as one line naming the fields and reasons, never their values."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or record.msg != "Exception on %s [%s]":
            return True
        exc = record.exc_info[1]
        if isinstance(exc, PydanticValidationError):
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False,
                                                                                                include_context=False)[:5])
        elif isinstance(exc, BentoMLException) and int(exc.error_code) < 500:
            detail = str(exc)[:300]
        else:
            return True
        record.msg, record.args = "refused a request on %s [%s]: %s", (*(record.args or ()), detail)
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


logging.getLogger("bentoml._internal.server.http_app").addFilter(_NoRequestDataInLogs())
OPEN_PATHS = ("/health", "/ready", "/models", "/livez", "/readyz", "/docs", "/docs.json", "/metrics", "/")
ops = FastAPI(title="b2bscore operations")


SECURITY_SCHEME = "bearerAuth"
_METHODS = ("get", "put", "post", "delete", "patch")


def with_security(spec: dict) -> dict:
    """The OpenAPI spec with the bearer scheme declared on every scoring operation, and its 401 response
    (BentoML's spec has no place for security schemes yet), so that clients and the /docs page know about the key."""
    spec.setdefault("components", {}).setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
        "type": "http", "scheme": "bearer",
        "description": "The service's API key (B2BSCORE_API_KEY), when it runs with one: 'Authorization: Bearer <key>'."}
    unauthorised = {"description": "Missing or wrong API key.", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}}}}
    for path, item in spec.get("paths", {}).items():
        if path in OPEN_PATHS or not isinstance(item, dict):
            continue
        for method, operation in item.items():
            if method in _METHODS and isinstance(operation, dict):
                operation["security"] = [{SECURITY_SCHEME: []}]
                operation.setdefault("responses", {})["401"] = unauthorised
    return spec


class ApiKeyMiddleware:
    """Bearer-token authentication for every scoring endpoint; health and docs stay open; the published OpenAPI
    spec declares the scheme. Pure ASGI."""

    def __init__(self, app, api_key: str | None = None) -> None:
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("path") == "/docs.json" and scope.get("method") == "GET":
            return await self._spec(scope, receive, send)
        key = self.api_key or os.environ.get("B2BSCORE_API_KEY")
        if scope["type"] != "http" or not key or scope.get("path", "") in OPEN_PATHS or scope.get("method") == "OPTIONS":
            return await self.app(scope, receive, send)
        header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), key.encode()):
            return await self.app(scope, receive, send)
        response = JSONResponse({"error": "missing or wrong API key: send 'Authorization: Bearer <key>'"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)

    async def _spec(self, scope, receive, send):
        """BentoML's spec, rewritten by ``with_security`` (passed on unchanged when it is not plain JSON)."""
        start: dict = {}
        chunks: list[bytes] = []

        async def capture(message):
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body, headers = b"".join(chunks), list(start.get("headers", []))
        encoded = any(name.lower() == b"content-encoding" for name, _ in headers)
        if start.get("status") == 200 and not encoded:
            try:
                body = json.dumps(with_security(json.loads(body))).encode()
            except ValueError:
                pass
        headers = [(n, v) for n, v in headers if n.lower() != b"content-length"] + [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": start.get("status", 500), "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _max_batch() -> int:
    return int(os.environ.get("B2BSCORE_MAX_BATCH", "1000"))


@bentoml.service(name="b2bscore", traffic={"timeout": 60}, workers=int(os.environ.get("B2BSCORE_WORKERS", "1")))
@bentoml.mount_asgi_app(ops, path="/")
class ScoringService:
    def __init__(self) -> None:
        self.home = ProjectHome.resolve()
        self.store = ModelStore(self.home)
        self.store.refresh()
        self.segments = SegmentLookup(self.home.segments_dir)
        self.segments.refresh()
        self.predictions = PredictionLog(self.home.predictions_dir)
        self._stop = threading.Event()
        interval = float(os.environ.get("B2BSCORE_REFRESH_SECONDS", "30"))
        self._watcher = threading.Thread(target=self._watch, args=(interval,), daemon=True, name="registry-watcher")
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
        if len(records) > _max_batch():
            raise BadInput(f"{kind}: {len(records)} records is over the maximum batch of {_max_batch()}; split the request")

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


ScoringService.add_asgi_middleware(ApiKeyMiddleware)


def _json_reasons(row: dict) -> dict:
    for key in ("reasons_for", "reasons_against"):
        if isinstance(row.get(key), str):
            row[key] = json.loads(row[key])
    return row


def _none_for_nan(row: dict) -> dict:
    return {k: (None if pd.api.types.is_scalar(v) and pd.isna(v) else v) for k, v in row.items() if k != "as_of"}
