"""The champions a running service scores with, refreshed from the registry without a restart.

``ModelStore.refresh()`` asks the registry which versions hold the ``champion`` alias; a version
that changed is loaded completely (the registered pyfunc, then its reason writer) *before* one
reference swap publishes the new set, so a request never sees a half-loaded model. Each loaded
model is also kept in a local cache under the project home, so a service that starts while the
registry is unreachable serves the last models it knew, and says so.
"""

from __future__ import annotations

import json
import logging
import pickle
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from mlflow.exceptions import MlflowException

from b2bscore.errors import B2BScoreError
from b2bscore.home import ProjectHome
from b2bscore.model.champions import Champion, load_champion
from b2bscore.model.tasks import MODEL_NAMES, TASK_NAMES
from b2bscore.model.tracking import activate, resolve_tracking
from b2bscore.serving.predict import Scorer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """An immutable set of loaded champions; replaced as a whole, never mutated."""

    scorers: dict[str, Scorer] = field(default_factory=dict)
    source: str = "none"  # registry | cache | none
    loaded_at: str | None = None

    def versions(self) -> dict[str, str]:
        return {task: s.champion.version for task, s in self.scorers.items()}


class ModelStore:
    def __init__(self, home: ProjectHome) -> None:
        self.home = home
        self.cache = home.serving_cache
        self.snapshot = Snapshot()
        self.registry_ok = False
        self.registry_error: str | None = "not contacted yet"
        self.checked_at: str | None = None
        self._lock = threading.Lock()

    # -- registry ---------------------------------------------------------------------
    def refresh(self) -> bool:
        """Reload the champions whose alias moved; returns True when the served set changed."""
        with self._lock:
            self.checked_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            try:
                client = activate(resolve_tracking(self.home))
                current = self.snapshot.scorers
                scorers: dict[str, Scorer] = {}
                for task in TASK_NAMES:
                    try:
                        version = str(client.get_model_version_by_alias(MODEL_NAMES[task], "champion").version)
                    except MlflowException as exc:
                        if "not found" in str(exc).lower() or "RESOURCE_DOES_NOT_EXIST" in str(exc):
                            continue
                        raise
                    if task in current and current[task].champion.version == version:
                        scorers[task] = current[task]
                        continue
                    champion = load_champion(client, task)
                    if champion is not None:
                        scorers[task] = Scorer(champion)
                        self._write_cache(champion)
            except (B2BScoreError, MlflowException, OSError) as exc:
                self.registry_ok, self.registry_error = False, f"{type(exc).__name__}: {str(exc)[:300]}"
                log.warning("registry unreachable, keeping the models in memory: %s", self.registry_error)
                if not self.snapshot.scorers:
                    self._load_cache()
                return False
            self.registry_ok, self.registry_error = True, None
            changed = {t: s.champion.version for t, s in scorers.items()} != self.snapshot.versions()
            if changed or self.snapshot.source != "registry":
                self.snapshot = Snapshot(scorers=scorers, source="registry",
                                         loaded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
                log.info("serving champions %s", self.snapshot.versions())
            return changed

    # -- local cache ------------------------------------------------------------------
    def _write_cache(self, champion: Champion) -> None:
        folder = self.cache / champion.task
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / "champion.pkl.partial"
        with partial.open("wb") as handle:
            pickle.dump(champion, handle)
        partial.replace(folder / "champion.pkl")
        (folder / "champion.json").write_text(json.dumps({"version": champion.version, "name": champion.name}))

    def _load_cache(self) -> None:
        scorers = {}
        for task in TASK_NAMES:
            path = self.cache / task / "champion.pkl"
            if path.exists():
                with path.open("rb") as handle:
                    scorers[task] = Scorer(pickle.load(handle))
        if scorers:
            self.snapshot = Snapshot(scorers=scorers, source="cache",
                                     loaded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))

    # -- status -----------------------------------------------------------------------
    def ready(self) -> tuple[bool, str]:
        snapshot = self.snapshot
        if not snapshot.scorers:
            why = self.registry_error or "no champion is registered yet (run `b2bscore train all --data DIR`)"
            return False, f"no models loaded: {why}"
        if snapshot.source == "cache":
            return True, f"serving cached models (registry unreachable: {self.registry_error})"
        if not self.registry_ok:
            return True, f"serving the models loaded at {snapshot.loaded_at}; registry unreachable: {self.registry_error}"
        return True, "ok"

    def describe(self) -> dict[str, object]:
        snapshot = self.snapshot
        return {
            "models": {task: {"name": s.champion.name, "version": s.champion.version, "run_id": s.champion.run_id,
                              "metrics": s.champion.metrics} for task, s in snapshot.scorers.items()},
            "source": snapshot.source, "loaded_at": snapshot.loaded_at, "registry_reachable": self.registry_ok,
            "registry_error": self.registry_error, "checked_at": self.checked_at,
        }


def cached_paths(home: ProjectHome) -> list[Path]:
    return sorted(home.serving_cache.glob("*/champion.pkl"))
