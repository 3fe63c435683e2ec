"""The scoring service's settings, :class:`ServeConfig`, read once at the edge.

Where each setting comes from (the first one that gives it wins):

- ``home``: the service argument ``home``; then ``$B2BSCORE_HOME``; then ``./b2bscore-home``, as for every command.
- ``refresh_seconds``, ``max_batch``, ``workers``, ``max_body_mb``, ``metrics_open``, ``log_flush_rows``,
  ``log_flush_seconds``: the service arguments; then the defaults below.
- ``api_key``: ``$B2BSCORE_API_KEY`` only. A secret is never put in a file, on a command line (where every
  user of the machine can see it) or in a built Bento (which records its arguments).

The service arguments are BentoML's (``bentoml.use_arguments()``). They are ``b2bscore serve``'s options laid
over its ``--config`` file, or ``bentoml serve --arg key=value`` / ``--arg-file serving/serve.yaml``, or the
arguments a Bento was built with. BentoML passes them to every process it starts. The service reads them,
together with the environment, in its ``__init__`` (:func:`resolve_serve_config`). ``workers`` is the one
setting BentoML needs before the service exists, so the decorator takes it from the same arguments at import
(:func:`serve_workers`), without reading the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from b2bscore.config_io import format_validation_error, read_config_mapping
from b2bscore.errors import ConfigError
from b2bscore.home import DEFAULT_HOME, HOME_ENV, ProjectHome
from b2bscore.serving.online import ONLINE_STORE_ENV, REDIS_PASSWORD_ENV, StoreLocation

API_KEY_ENV = "B2BSCORE_API_KEY"
SERVICE_ARGUMENTS = "service arguments (bentoml --arg / --arg-file, or the Bento's build arguments)"
RETIRED_ENV = {"B2BSCORE_REFRESH_SECONDS": "refresh_seconds", "B2BSCORE_MAX_BATCH": "max_batch",
               "B2BSCORE_WORKERS": "workers"}
"""Variables that earlier versions read. Each one is now refused, and the error names the argument that replaces it."""


class ServeConfig(BaseModel):
    """How the scoring service runs. ``serving/serve.yaml`` is an example; ``api_key`` is never read from a file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path | None = Field(default=None, description="Project home; none: $B2BSCORE_HOME, else ./b2bscore-home.")
    refresh_seconds: float = Field(default=30.0, ge=0.5,
                                   description="How often the registry is asked whether a champion moved.")
    max_batch: int = Field(default=1000, ge=1, description="Most records per request.")
    workers: int = Field(default=1, ge=1, description="Worker processes, each with its own models; scoring is "
                                                      "CPU-bound, so up to one per core.")
    max_body_mb: float = Field(default=10.0, gt=0, description="Largest request body, in MB (2^20 bytes); a larger "
                                                               "one is refused with 413 before it is parsed.")
    metrics_open: bool = Field(default=False, description="Serve /metrics without the API key (for a Prometheus "
                                                          "that cannot send one); false: it needs the key, as scoring.")
    log_flush_rows: int = Field(default=5000, ge=1, description="The prediction log writes a part once this many "
                                                                "rows of one kind are waiting ...")
    log_flush_seconds: float = Field(default=60.0, gt=0, description="... or once the oldest has waited this long "
                                                                     "(and when the service stops).")
    online_store: str | None = Field(default=None, description="The online feature store scoring by id reads: "
                                     "'sqlite' (Feast's SQLite store under the home), 'redis://HOST:PORT/DB' or "
                                     "'off'; none: $B2BSCORE_ONLINE_STORE, else sqlite. The Redis password comes "
                                     "only from $B2BSCORE_REDIS_PASSWORD.")
    store_max_age_hours: float = Field(default=36.0, gt=0, description="/ready and /models call the online store "
                                       "stale when its features were written longer ago than this.")
    api_key: SecretStr | None = Field(default=None, description="Bearer token the scoring endpoints require "
                                      "(from $B2BSCORE_API_KEY); none: no authentication.")
    redis_password: SecretStr | None = Field(default=None, description="The online store's Redis password (from "
                                             "$B2BSCORE_REDIS_PASSWORD).")

    def online_location(self) -> StoreLocation:
        """Where the online store is, from ``online_store`` (resolved with the environment when the service starts)."""
        return StoreLocation.parse(self.online_store, source="setting online_store",
                                   password=None if self.redis_password is None else self.redis_password.get_secret_value())

    def service_arguments(self) -> dict[str, str]:
        """The settings as BentoML service arguments (``--arg key=value``), without the API key."""
        return {name: str(value) for name, value in self.model_dump(exclude={"api_key", "redis_password"},
                                                                     exclude_none=True).items()}

    def updated(self, values: Mapping[str, Any], *, source: str) -> ServeConfig:
        """These settings with ``values`` laid over them (``None`` keeps a setting); errors name ``source``."""
        given = {name: value for name, value in values.items() if value is not None}
        return _validated({**self.model_dump(exclude={"api_key", "redis_password"}, exclude_none=True), **given},
                          source=source, checked=given)


def load_serve_config(path: Path | None) -> ServeConfig:
    """The defaults, or the settings of a YAML/TOML file such as ``serving/serve.yaml`` (errors name the file and
    field). The result does not yet hold the environment's home and API key; :func:`resolve_serve_config` adds them."""
    if path is None:
        return ServeConfig()
    return _validated(read_config_mapping(Path(path)), source=f"config file {path}")


def resolve_serve_config(arguments: Mapping[str, Any], environ: Mapping[str, str], *,
                         source: str = SERVICE_ARGUMENTS) -> ServeConfig:
    """The service's settings from its arguments and the environment. This is the only place they are read.

    ``home`` becomes an absolute path. A variable of :data:`RETIRED_ENV` raises a ConfigError that names the
    argument replacing it, so an old deployment fails at start instead of silently running with other settings.
    """
    retired = [name for name in RETIRED_ENV if name in environ]
    if retired:
        replacements = ", ".join(f"{name} -> --arg {RETIRED_ENV[name]}=..." for name in retired)
        raise ConfigError(f"the service no longer reads {', '.join(retired)} from the environment; pass "
                          f"{'it' if len(retired) == 1 else 'them'} as service arguments instead ({replacements}, "
                          "or the b2bscore serve options, or serving/serve.yaml)")
    settings = _validated(arguments, source=source)
    home = ProjectHome.resolve(settings.home or Path(environ.get(HOME_ENV) or DEFAULT_HOME)).root
    key = environ.get(API_KEY_ENV) or None
    StoreLocation.resolve(settings.online_store, environ, source=source)  # a bad one stops the service here
    password = environ.get(REDIS_PASSWORD_ENV) or None
    return settings.model_copy(update={"home": home, "api_key": None if key is None else SecretStr(key),
                                       "online_store": settings.online_store or environ.get(ONLINE_STORE_ENV) or None,
                                       "redis_password": None if password is None else SecretStr(password)})


def serve_workers(arguments: Mapping[str, Any]) -> int:
    """How many worker processes the service arguments ask for (the ``@bentoml.service`` decorator's ``workers``)."""
    return _validated(arguments, source=SERVICE_ARGUMENTS).workers


def _validated(values: Mapping[str, Any], *, source: str, checked: Mapping[str, Any] | None = None) -> ServeConfig:
    """``values`` as a ServeConfig; every problem is one ConfigError naming ``source`` and the field.
    ``checked`` holds the values that come from ``source`` when the others were already validated."""
    named = set(values if checked is None else checked)
    if "redis_password" in named:
        raise ConfigError(f"{source}: redis_password is not accepted here; set the {REDIS_PASSWORD_ENV} environment "
                          "variable")
    if "api_key" in named:
        raise ConfigError(f"{source}: api_key is not accepted here; set the {API_KEY_ENV} environment variable "
                          "(a key in a file, on a command line or in a Bento's arguments can be read by others)")
    settings = set(ServeConfig.model_fields) - {"api_key", "redis_password"}
    unknown = sorted(named - settings)
    if unknown:
        raise ConfigError(f"{source}: unknown setting(s) {', '.join(unknown)}; the settings are "
                          f"{', '.join(sorted(settings))}")
    try:
        return ServeConfig.model_validate(dict(values))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source=source)) from None
