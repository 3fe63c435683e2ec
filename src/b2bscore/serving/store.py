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
from b2bscore.io import atomic_output
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
    """The champions the service scores with. ``missing`` names each task without a loaded model, and why."""

    def __init__(self, home: ProjectHome) -> None:
        self.home = home
        self.cache = home.serving_cache
        self.snapshot = Snapshot()
        self.registry_ok = False
        self.registry_error: str | None = "not contacted yet"
        self.missing: dict[str, str] = {}
        self.checked_at: str | None = None
        self._lock = threading.Lock()

    # -- registry ---------------------------------------------------------------------
    def refresh(self) -> bool:
        """Reload the champions whose alias moved; returns True when the served set changed.

        An unreachable registry keeps the models in memory (or, at start, loads the cached ones); it never raises."""
        with self._lock:
            self.checked_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
            try:
                scorers, missing = self._from_registry()
            except (B2BScoreError, MlflowException, OSError) as exc:
                self._unreachable(str(exc) if isinstance(exc, RegistryMissing) else f"{type(exc).__name__}: {str(exc)[:300]}")
                return False
            if not self.registry_ok:
                log.info("the registry is reachable again")
            self.registry_ok, self.registry_error, self.missing = True, None, missing
            changed = {t: s.champion.version for t, s in scorers.items()} != self.snapshot.versions()
            if changed or self.snapshot.source != "registry":
                self.snapshot = Snapshot(scorers=scorers, source="registry",
                                         loaded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
                log.info("serving champions %s", self.snapshot.versions())
            return changed

    def _from_registry(self) -> tuple[dict[str, Scorer], dict[str, str]]:
        config = resolve_tracking(self.home)
        # SQLite creates a missing database file: an embedded registry that is gone would look empty, and reachable
        if config.embedded and not self.home.tracking_db.is_file():
            raise RegistryMissing(f"the registry database {self.home.tracking_db} is missing")
        client = activate(config)
        current = self.snapshot.scorers
        scorers: dict[str, Scorer] = {}
        missing: dict[str, str] = {}
        for task in TASK_NAMES:
            try:
                version = str(client.get_model_version_by_alias(MODEL_NAMES[task], "champion").version)
            except MlflowException as exc:
                if "not found" in str(exc).lower() or "RESOURCE_DOES_NOT_EXIST" in str(exc):
                    missing[task] = f"no {task} champion is registered (run `b2bscore train {task} --data DIR`)"
                    continue
                raise
            if task in current and current[task].champion.version == version:
                scorers[task] = current[task]
                continue
            champion = load_champion(client, task)
            if champion is not None:
                scorers[task] = Scorer(champion)
                self._write_cache(champion)
        return scorers, missing

    def _unreachable(self, error: str) -> None:
        if error != self.registry_error:  # once per state, not once per refresh
            log.warning("registry unreachable, keeping the models in memory: %s", error)
        self.registry_ok, self.registry_error = False, error
        if not self.snapshot.scorers:
            self._load_cache()

    # -- local cache ------------------------------------------------------------------
    def _write_cache(self, champion: Champion) -> None:
        folder = self.cache / champion.task
        with atomic_output(folder / "champion.pkl") as temporary, temporary.open("wb") as handle:
            pickle.dump(champion, handle)
        with atomic_output(folder / "champion.json") as temporary:
            temporary.write_text(json.dumps({"version": champion.version, "name": champion.name}))

    def _load_cache(self) -> None:
        """The cached champions. An unreadable entry (truncated, say) is skipped with a warning naming it."""
        scorers, missing = {}, {}
        for task in TASK_NAMES:
            path = self.cache / task / "champion.pkl"
            if not path.exists():
                missing[task] = "the registry is unreachable and no copy of its champion is cached"
                continue
            try:
                with path.open("rb") as handle:
                    champion = pickle.load(handle)
                if not isinstance(champion, Champion):
                    raise TypeError(f"it holds a {type(champion).__name__}, not a champion")
                scorers[task] = Scorer(champion)
            except _UNREADABLE as exc:
                missing[task] = (f"the registry is unreachable and the cached copy {path} is unreadable "
                                 f"({type(exc).__name__}: {str(exc)[:200]})")
                log.warning("ignored the unreadable cached %s model %s (%s: %s)", task, path, type(exc).__name__,
                            str(exc)[:200])
        self.missing = missing
        if scorers:
            self.snapshot = Snapshot(scorers=scorers, source="cache",
                                     loaded_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))

    # -- status -----------------------------------------------------------------------
    def ready(self) -> tuple[bool, str]:
        snapshot, missing = self.snapshot, dict(self.missing)
        not_loaded = "; ".join(f"{task}: {why}" for task, why in missing.items())
        if not snapshot.scorers:
            why = self.registry_error or "no champion is registered yet (run `b2bscore train all --data DIR`)"
            if self.registry_error and not_loaded:
                why = f"registry unreachable: {self.registry_error}; {not_loaded}"
            return False, f"no models loaded: {why}"
        if snapshot.source == "cache":
            detail = f"serving cached models (registry unreachable: {self.registry_error})"
        elif not self.registry_ok:
            detail = f"serving the models loaded at {snapshot.loaded_at}; registry unreachable: {self.registry_error}"
        else:
            detail = "ok"
        return True, detail + (f"; not loaded: {not_loaded}" if not_loaded else "")

    def unavailable(self, task: str) -> str | None:
        """Why ``task`` cannot be scored now (None: its model is loaded), in the words of :meth:`ready`."""
        if task in self.snapshot.scorers:
            return None
        ok, detail = self.ready()
        return detail if not ok else f"no {task} model is loaded: {self.missing.get(task, detail)}"

    def describe(self) -> dict[str, object]:
        snapshot = self.snapshot
        return {
            "models": {task: {"name": s.champion.name, "version": s.champion.version, "run_id": s.champion.run_id,
                              "metrics": s.champion.metrics} for task, s in snapshot.scorers.items()},
            "missing": dict(self.missing),
            "source": snapshot.source, "loaded_at": snapshot.loaded_at, "registry_reachable": self.registry_ok,
            "registry_error": self.registry_error, "checked_at": self.checked_at,
        }


class RegistryMissing(B2BScoreError):
    """The embedded registry's database file is gone (moved, deleted): the registry is unreachable."""


_UNREADABLE = (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, IndexError, KeyError, TypeError,
               ValueError)
"""What unpickling a damaged or foreign file raises."""


def cached_paths(home: ProjectHome) -> list[Path]:
    return sorted(home.serving_cache.glob("*/champion.pkl"))
