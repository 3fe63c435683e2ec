"""The project home: every place the embedded defaults keep something, each with one owner here.

Nothing is created until a job writes. A job's context -- the home, a progress callback -- is built once at the
edge (the CLI, the demo, the Python API) and handed down; :data:`Progress` is its callback's type.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from b2bscore.errors import ConfigError

HOME_ENV = "B2BSCORE_HOME"
DEFAULT_HOME = Path("b2bscore-home")

Progress = Callable[[str, float], None]
"""``progress(step, fraction)``: what a long job is doing, and how far it is (0 to 1)."""


def no_progress(step: str, fraction: float) -> None:
    """The progress callback of a job whose caller did not ask for one."""


@dataclass(frozen=True)
class ProjectHome:
    """Paths under one project home folder (nothing is created until a job writes)."""

    root: Path

    @classmethod
    def resolve(cls, root: Path | None = None) -> ProjectHome:
        """``root`` if given, else ``$B2BSCORE_HOME``, else ``./b2bscore-home``."""
        chosen = root or Path(os.environ.get(HOME_ENV, "") or DEFAULT_HOME)
        return cls(Path(chosen).expanduser().resolve())

    def require(self) -> ProjectHome:
        """This home, when it exists: commands that only read (``b2bscore models list``, ``segment-diff``...) call it
        so that a mistyped ``--home`` is one clear error instead of a new, empty home."""
        if not self.root.is_dir():
            raise ConfigError(f"no project home at {self.root} (run `b2bscore train` or `b2bscore demo` first)")
        return self

    @property
    def world_dir(self) -> Path:
        """The demo's generated world (its truth in ``world/truth/``)."""
        return self.root / "world"

    @property
    def features_dir(self) -> Path:
        return self.root / "features"

    @property
    def tracking_db(self) -> Path:
        """The embedded MLflow store (runs and the model registry)."""
        return self.root / "mlflow.db"

    @property
    def artifacts_dir(self) -> Path:
        """The embedded MLflow store's artifacts (models, reports), one folder per experiment."""
        return self.root / "mlartifacts"

    @property
    def audit_log(self) -> Path:
        """A JSON-lines copy of every alias move of the registry (the registry's own tags are the record)."""
        return self.root / "registry-audit.jsonl"

    @property
    def segments_dir(self) -> Path:
        """One folder per segmentation version (read and written through ``b2bscore.segments.store.SegmentStore``)."""
        return self.root / "segments"

    @property
    def scores_dir(self) -> Path:
        """The demo's batch score files for CRM import."""
        return self.root / "scores"

    @property
    def predictions_dir(self) -> Path:
        """The prediction log: every score served or written, partitioned by kind and date."""
        return self.root / "predictions"

    @property
    def serving_cache(self) -> Path:
        """The service's copy of the champions it serves, used while the registry is unreachable."""
        return self.root / "serving-cache"

    @property
    def online_store_dir(self) -> Path:
        """The embedded online feature store (Feast's SQLite store): one folder per generation written by
        ``b2bscore score``, and ``current.json`` naming the complete one the service reads
        (``b2bscore.serving.online``)."""
        return self.root / "online-store"

    @property
    def monitoring_dir(self) -> Path:
        """Monitoring runs (``runs/``, ``dry-runs/``) and the alert state."""
        return self.root / "monitoring"

    def monitoring_runs(self, *, dry_run: bool = False) -> Path:
        return self.monitoring_dir / ("dry-runs" if dry_run else "runs")

    @property
    def alert_state(self) -> Path:
        """What the monitor last alerted on, so that a lasting alert is sent once."""
        return self.monitoring_dir / "alert-state.json"
