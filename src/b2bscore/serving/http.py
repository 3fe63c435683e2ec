"""The service's HTTP edge: what a request meets before BentoML parses it, and request data kept out of the logs.

In order, outermost first (:func:`edge_middlewares`):

1. :class:`KnownPathsMiddleware`: an unknown path is answered 404 here, before the request metrics see it, so
   random paths never add Prometheus series.
2. BentoML's request metrics (the service turns BentoML's own off, so that they sit behind the path check).
3. :class:`ApiKeyMiddleware`: the bearer token of every endpoint but health, readiness and docs (and ``/metrics``
   unless it is left open); the security scheme in the published OpenAPI spec.
4. :class:`ReadinessMiddleware`: 503 with the reason ``/ready`` gives when the endpoint's model is not loaded.
5. :class:`RequestBodyMiddleware`: 415 for a body that is not JSON, 413 for one over the size limit (declared or
   streamed), before any of it is parsed.

Importing this module changes nothing. The service registers the middlewares and calls
:func:`keep_request_data_out_of_logs` when it is constructed.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from collections.abc import Callable, Collection, Iterable
from typing import get_args

from bentoml.exceptions import BadInput, BentoMLException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, SecretStr
from pydantic import ValidationError as PydanticValidationError

OPEN_PATHS = ("/health", "/ready", "/models", "/livez", "/healthz", "/readyz", "/docs", "/docs.json", "/")
METRICS_PATH = "/metrics"
SYSTEM_PATHS = (*OPEN_PATHS, METRICS_PATH)
"""BentoML's own routes and the service's operations; the scoring endpoints are added by the service."""
STATIC_PREFIX = "/static_content/"
JSON_TYPES = ("application/json",)
SECURITY_SCHEME = "bearerAuth"
BENTOML_REQUEST_LOGGER = "bentoml._internal.server.http_app"
_METHODS = ("get", "put", "post", "delete", "patch")
log = logging.getLogger(__name__)


def with_security(spec: dict) -> dict:
    """The OpenAPI spec with the bearer scheme declared on every scoring operation, and its 401 response.

    BentoML's spec has no place for security schemes yet. Declaring the scheme tells clients and the /docs page
    about the key."""
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
    """Bearer-token authentication for every scoring endpoint. Health and docs stay open, and the published
    OpenAPI spec declares the scheme. Pure ASGI.

    ``api_key`` returns the key, or None for no authentication. The middleware calls it on each request because
    BentoML builds the middleware before it constructs the service that holds the key."""

    def __init__(self, app, api_key: Callable[[], SecretStr | None],
                 metrics_open: Callable[[], bool] = lambda: False) -> None:
        self.app = app
        self.api_key = api_key
        self.metrics_open = metrics_open

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("path") == "/docs.json" and scope.get("method") == "GET":
            return await self._spec(scope, receive, send)
        path = scope.get("path", "")
        if (scope["type"] != "http" or path in OPEN_PATHS or path.startswith(STATIC_PREFIX)
                or scope.get("method") == "OPTIONS" or (path == METRICS_PATH and self.metrics_open())):
            return await self.app(scope, receive, send)
        key = self.api_key()
        if key is None or not key.get_secret_value():
            return await self.app(scope, receive, send)
        header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), key.get_secret_value().encode()):
            return await self.app(scope, receive, send)
        await _answer(scope, receive, send, 401, "missing or wrong API key: send 'Authorization: Bearer <key>'",
                      headers={"WWW-Authenticate": "Bearer"})

    async def _spec(self, scope, receive, send):
        """BentoML's spec, rewritten by ``with_security``. A spec that is not plain JSON is passed on unchanged."""
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


async def _answer(scope, receive, send, status: int, error: str, headers: dict[str, str] | None = None) -> None:
    await JSONResponse({"error": error}, status_code=status, headers=headers)(scope, receive, send)


class KnownPathsMiddleware:
    """Answers 404 to a path the service does not serve, before any later middleware (the request metrics, which
    label each series by path) sees it. Pure ASGI."""

    def __init__(self, app, paths: Collection[str], prefixes: tuple[str, ...] = (STATIC_PREFIX,)) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.prefixes = prefixes
        self._listing = ", ".join(sorted(p for p in self.paths if p not in ("/", "/healthz", "/livez", "/readyz")))

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if path in self.paths or path.startswith(self.prefixes):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        await _answer(scope, receive, send, 404, f"no such endpoint; the endpoints are {self._listing}")


class ReadinessMiddleware:
    """503 with the reason ``/ready`` gives when a scoring endpoint's model is not loaded. ``unavailable(path)``
    returns that reason, or None when the path can be served. Each new reason is logged once, not per request."""

    def __init__(self, app, unavailable: Callable[[str], str | None]) -> None:
        self.app = app
        self.unavailable = unavailable
        self._logged: dict[str, str | None] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        reason = self.unavailable(path)
        with self._lock:
            previous, self._logged[path] = self._logged.get(path), reason
        if reason != previous:
            if reason is None:
                log.info("%s: scoring again, its model is loaded", path)
            else:
                log.warning("%s: refusing requests with 503 until its model is loaded: %s", path, reason)
        if reason is None:
            return await self.app(scope, receive, send)
        await _answer(scope, receive, send, 503, reason, headers={"Retry-After": "30"})


class RequestBodyMiddleware:
    """Refuses, before anything parses it, a body over ``max_bytes()`` (413; from its Content-Length, or counted
    while it streams in), and on ``json_paths`` a body that is not JSON (415, e.g. multipart/form-data, with or
    without its boundary). The body of a ``json_paths`` request is read here and handed on whole. Pure ASGI."""

    def __init__(self, app, max_bytes: Callable[[], int], json_paths: Collection[str]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.json_paths = frozenset(json_paths)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.max_bytes()
        headers = _headers(scope)
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                return await _answer(scope, receive, send, 400, "malformed Content-Length header: not a number")
            if int(declared) > limit:
                return await _answer(scope, receive, send, 413, _too_large(limit))
        if scope.get("path") not in self.json_paths or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type and media_type not in JSON_TYPES:
            return await _answer(scope, receive, send, 415, f"unsupported Content-Type {media_type[:100]!r}: send the "
                                 "records as JSON, with 'Content-Type: application/json'")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client is gone: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return await _answer(scope, receive, send, 413, _too_large(limit))
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _headers(scope) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers") or []}


def _too_large(limit: int) -> str:
    return (f"the request body is over the service's limit of {limit / 2**20:g} MB (setting max_body_mb); "
            "send fewer records per request")


def field_names(*models: type[BaseModel]) -> frozenset[str]:
    """Every field name of ``models`` and of the models nested in them: the words a log line may name."""
    names: set[str] = set()
    todo, seen = list(models), set()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            names.add(name)
            todo.extend(t for t in _nested_types(info.annotation) if isinstance(t, type) and issubclass(t, BaseModel))
    return frozenset(names)


def _nested_types(annotation) -> Iterable:
    yield annotation
    for argument in get_args(annotation):
        yield from _nested_types(argument)


_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])?(?:\.[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])?)*")


def field_paths(message: str, names: Collection[str]) -> list[str]:
    """The field paths (``lead.account_id``, ``invoices[2].amount``) that ``message`` names, and nothing else of it:
    a word that is not a field name (a value the request sent, say) is left out."""
    found: list[str] = []
    for match in _PATH.finditer(message):
        segments = [part.split("[")[0] for part in match.group().split(".")]
        if all(segment in names for segment in segments) and match.group() not in found:
            found.append(match.group())
    return found


class RefusedRequest(BadInput):
    """A 400 whose message goes to the client, and whose ``log_reason`` (no request values) goes to the log."""

    def __init__(self, message: str, *, log_reason: str) -> None:
        super().__init__(message)
        self.log_reason = log_reason


class RequestDataLogFilter(logging.Filter):
    """Keeps request data out of BentoML's log of refused requests.

    BentoML logs every refused request with a traceback whose message quotes the offending input. This filter
    logs a client error instead as one warning line that names the fields and reasons, never their values: for a
    validation error each field's location and error type; for a :class:`RefusedRequest` its ``log_reason``; for
    any other client error only its kind."""

    def __init__(self, fields: Collection[str] = ()) -> None:
        super().__init__()
        self.fields = frozenset(fields)

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or record.msg != "Exception on %s [%s]":
            return True
        exc = record.exc_info[1]
        if isinstance(exc, PydanticValidationError):
            errors = exc.errors(include_input=False, include_context=False, include_url=False)
            detail = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['type']}{self._named(e)}"
                               for e in errors[:5])
            detail += f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        elif isinstance(exc, BentoMLException) and int(exc.error_code) < 500:
            detail = getattr(exc, "log_reason", None) or f"{type(exc).__name__} (the reason went to the client only)"
        else:
            return True
        record.msg, record.args = "refused a request on %s [%s]: %s", (*(record.args or ()), detail)
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True

    def _named(self, error) -> str:
        """The fields a model validator's message names (its values left out), e.g. `` (lead.account_id)``."""
        if error["type"] != "value_error":
            return ""
        fields = field_paths(str(error.get("msg", "")), self.fields)
        return f" ({', '.join(fields[:5])})" if fields else ""


def keep_request_data_out_of_logs(fields: Collection[str] = ()) -> None:
    """Install :class:`RequestDataLogFilter` on BentoML's request logger; ``fields`` are the field names a log line
    may name. Calling it again changes nothing."""
    logger = logging.getLogger(BENTOML_REQUEST_LOGGER)
    if not any(isinstance(f, RequestDataLogFilter) for f in logger.filters):
        logger.addFilter(RequestDataLogFilter(fields))


def edge_middlewares(*, known_paths: Collection[str], json_paths: Collection[str], api_key: Callable[[], SecretStr | None],
                     metrics_open: Callable[[], bool], unavailable: Callable[[str], str | None],
                     max_bytes: Callable[[], int], metrics: tuple[type, dict] | None) -> list[tuple[type, dict]]:
    """The service's middlewares, outermost first, as ``(class, options)`` for ``add_asgi_middleware``. ``metrics``
    is the request-metrics middleware to place behind the path check (None: none)."""
    return [
        (KnownPathsMiddleware, {"paths": (*known_paths, *SYSTEM_PATHS)}),
        *([metrics] if metrics is not None else []),
        (ApiKeyMiddleware, {"api_key": api_key, "metrics_open": metrics_open}),
        (ReadinessMiddleware, {"unavailable": unavailable}),
        (RequestBodyMiddleware, {"max_bytes": max_bytes, "json_paths": json_paths}),
    ]
