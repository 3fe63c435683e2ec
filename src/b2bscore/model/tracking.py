"""Where runs and models live: an embedded SQLite store under the project home, or a shared server.

Nothing here runs at import time; ``activate`` is called by the jobs that log or read runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from b2bscore.errors import ConfigError
from b2bscore.home import ProjectHome

TRACKING_ENV = "MLFLOW_TRACKING_URI"
REGISTRY_ENV = "MLFLOW_REGISTRY_URI"


@dataclass(frozen=True)
class TrackingConfig:
    """The tracking and registry URIs; ``artifact_root`` is set only for the embedded store."""

    tracking_uri: str
    registry_uri: str
    artifact_root: Path | None

    @property
    def embedded(self) -> bool:
        return self.artifact_root is not None

    def describe(self) -> str:
        return f"{self.tracking_uri} (artifacts in {self.artifact_root})" if self.embedded else self.tracking_uri


def resolve_tracking(home: ProjectHome) -> TrackingConfig:
    """``$MLFLOW_TRACKING_URI`` when set (a shared server), else SQLite + local artifacts under ``home``."""
    shared = os.environ.get(TRACKING_ENV, "").strip()
    if shared:
        return TrackingConfig(tracking_uri=shared, registry_uri=os.environ.get(REGISTRY_ENV, shared), artifact_root=None)
    database = home.tracking_db
    uri = f"sqlite:///{database}"
    return TrackingConfig(tracking_uri=uri, registry_uri=uri, artifact_root=home.artifacts_dir)


def activate(config: TrackingConfig) -> MlflowClient:
    """Point MLflow at ``config`` (creating the embedded folders) and return a client for it."""
    if config.embedded:
        try:
            config.artifact_root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the project home {config.artifact_root.parent}: {exc.strerror}") from exc
    elif config.tracking_uri.startswith(("http://", "https://")):
        check_reachable(config.tracking_uri)
    saved = {name: os.environ.get(name) for name in (TRACKING_ENV, REGISTRY_ENV)}
    mlflow.set_tracking_uri(config.tracking_uri)
    mlflow.set_registry_uri(config.registry_uri)
    for name, value in saved.items():  # MLflow also exports the URI; keep the user's environment as it was
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    return MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.registry_uri)


def ensure_experiment(name: str, config: TrackingConfig) -> str:
    """The id of experiment ``name``, created on first use (artifacts under the home when embedded)."""
    client = MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.registry_uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = (config.artifact_root / name).as_uri() if config.embedded else None
    return client.create_experiment(name, artifact_location=location)


def check_reachable(uri: str, timeout_s: float = 5.0) -> None:
    """Fail fast, with a clear message, when a tracking server does not answer its health check."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout_s):
            return
    except urllib.error.HTTPError:
        return  # it answered: some servers do not expose /health
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(f"cannot reach the MLflow tracking server at {uri} ({reason}); start it, or unset "
                          f"{TRACKING_ENV} to use the embedded store under the project home") from None
