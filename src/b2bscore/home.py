"""The project home: where the embedded defaults keep worlds, features, runs and models."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "B2BSCORE_HOME"
DEFAULT_HOME = Path("b2bscore-home")


@dataclass(frozen=True)
class ProjectHome:
    """Paths under one project home folder (nothing is created until a job writes)."""

    root: Path

    @classmethod
    def resolve(cls, root: Path | None = None) -> ProjectHome:
        """``root`` if given, else ``$B2BSCORE_HOME``, else ``./b2bscore-home``."""
        chosen = root or Path(os.environ.get(HOME_ENV, "") or DEFAULT_HOME)
        return cls(Path(chosen).expanduser().resolve())

    @property
    def world_dir(self) -> Path:
        return self.root / "world"

    @property
    def features_dir(self) -> Path:
        return self.root / "features"

    @property
    def segments_dir(self) -> Path:
        """One folder per segmentation version (see ``b2bscore.segments.versions``)."""
        return self.root / "segments"
