"""Where runs and models live: an embedded SQLite store under the project home, or a shared server.

Nothing here runs at import time; ``activate`` is called by the jobs that log or read runs.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from b2bscore.errors import ConfigError
from b2bscore.home import ProjectHome
from b2bscore.io import process_gone

TRACKING_ENV = "MLFLOW_TRACKING_URI"
REGISTRY_ENV = "MLFLOW_REGISTRY_URI"
EXPERIMENT_PREFIX = "b2bscore-"
OWNER_TAG = "b2bscore.owner"
"""Tag of every b2bscore run (and of a model version being registered): ``host pid started`` of the writing process,
so that a later command can tell a run still being written from one whose process was killed."""
ABANDONED_TAG = "b2bscore.abandoned"
RUN_MAX_AGE_S = 24 * 3600.0
"""A run still RUNNING after this long, started on another machine (whose processes cannot be asked), is settled."""


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


def owner() -> str:
    """This process, as recorded in :data:`OWNER_TAG`: ``host pid started-at``."""
    return f"{socket.gethostname()} {os.getpid()} {datetime.now(timezone.utc).isoformat(timespec='seconds')}"


def owner_tags() -> dict[str, str]:
    """The tags with which a b2bscore job creates its MLflow run."""
    return {OWNER_TAG: owner()}


def owner_gone(value: str | None, *, started_ms: float | None = None, max_age_s: float) -> bool:
    """Whether the process recorded in an :data:`OWNER_TAG` value has ended. A process of another machine (or an
    unrecorded one) counts as ended once ``max_age_s`` have passed since it started."""
    parts = (value or "").split()
    if len(parts) >= 2 and parts[1].isdigit():
        gone = process_gone(parts[0], int(parts[1]))
        if gone is not None:
            return gone
        if len(parts) >= 3:
            try:
                started_ms = datetime.fromisoformat(parts[2]).timestamp() * 1000
            except ValueError:
                pass
    if started_ms is None:
        return False
    return time.time() - started_ms / 1000 > max_age_s


def settle_abandoned_runs(client: MlflowClient) -> list[str]:
    """Mark FAILED the b2bscore runs left RUNNING by a process that was killed (kill -9, a lost machine); the ids."""
    experiments = [e.experiment_id for e in client.search_experiments(filter_string=f"name LIKE '{EXPERIMENT_PREFIX}%'")]
    if not experiments:
        return []
    settled = []
    for run in client.search_runs(experiments, filter_string="attributes.status = 'RUNNING'", max_results=1000):
        if owner_gone(run.data.tags.get(OWNER_TAG), started_ms=run.info.start_time, max_age_s=RUN_MAX_AGE_S):
            client.set_tag(run.info.run_id, ABANDONED_TAG, "its process ended before the run finished (killed?)")
            client.set_terminated(run.info.run_id, status="FAILED")
            settled.append(run.info.run_id)
    return settled
