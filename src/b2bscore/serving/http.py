"""The service's HTTP edge: bearer-token authentication, the security scheme in the published OpenAPI spec, and
request data kept out of BentoML's logs.

Importing this module changes nothing. The service registers :class:`ApiKeyMiddleware` and calls
:func:`keep_request_data_out_of_logs` when it is constructed.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable

from bentoml.exceptions import BentoMLException
from fastapi.responses import JSONResponse
from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError

OPEN_PATHS = ("/health", "/ready", "/models", "/livez", "/readyz", "/docs", "/docs.json", "/metrics", "/")
SECURITY_SCHEME = "bearerAuth"
BENTOML_REQUEST_LOGGER = "bentoml._internal.server.http_app"
_METHODS = ("get", "put", "post", "delete", "patch")


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

    def __init__(self, app, api_key: Callable[[], SecretStr | None]) -> None:
        self.app = app
        self.api_key = api_key

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("path") == "/docs.json" and scope.get("method") == "GET":
            return await self._spec(scope, receive, send)
        if scope["type"] != "http" or scope.get("path", "") in OPEN_PATHS or scope.get("method") == "OPTIONS":
            return await self.app(scope, receive, send)
        key = self.api_key()
        if key is None or not key.get_secret_value():
            return await self.app(scope, receive, send)
        header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), key.get_secret_value().encode()):
            return await self.app(scope, receive, send)
        response = JSONResponse({"error": "missing or wrong API key: send 'Authorization: Bearer <key>'"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)

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


class RequestDataLogFilter(logging.Filter):
    """Keeps request data out of BentoML's log of refused requests.

    BentoML logs every refused request with a traceback whose message quotes the offending input. This filter
    logs a client error instead as one warning line that names the fields and reasons, never their values."""

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


def keep_request_data_out_of_logs() -> None:
    """Install :class:`RequestDataLogFilter` on BentoML's request logger. Calling it again changes nothing."""
    logger = logging.getLogger(BENTOML_REQUEST_LOGGER)
    if not any(isinstance(f, RequestDataLogFilter) for f in logger.filters):
        logger.addFilter(RequestDataLogFilter())
