"""The segmentation versions kept under the project home: ``home/segments/<version>/``.

A version id is the UTC creation time, ``20261123T141501Z``, with ``-02``, ``-03``, ... appended when
that second is already taken, so ids sort by creation. A folder is a *complete* version when it holds
``manifest.json``: the job builds a version in a hidden temporary folder beside the others and renames
it into place only when everything is written, so a failed job leaves no version behind.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from b2bscore.errors import DataError
from b2bscore.segments.diff import SegmentDiff, diff_assignments

VERSION_FORMAT = "%Y%m%dT%H%M%SZ"
MANIFEST = "manifest.json"
_VERSION = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d{2,}))?$")


def _order(version: str) -> tuple[str, int]:
    match = _VERSION.match(version)
    return match.group(1), int(match.group(2) or 1)


def list_versions(root: Path) -> list[str]:
    """The complete versions in ``root`` (a project home's ``segments_dir``), oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    names = [p.name for p in root.iterdir() if p.is_dir() and _VERSION.match(p.name) and (p / MANIFEST).is_file()]
    return sorted(names, key=_order)


def latest_version(root: Path) -> str | None:
    """The newest complete version in ``root``, or None when there is none yet."""
    versions = list_versions(root)
    return versions[-1] if versions else None


def new_version_id(root: Path, created_at: datetime) -> str:
    """A free id for a version created at ``created_at`` that sorts after every version already in ``root``.

    A clock that went back (or a ``created_at`` in the past) continues from the latest id instead,
    so "the latest version" stays "the one created last".
    """
    root = Path(root)
    stamp = created_at.astimezone(timezone.utc) if created_at.tzinfo else created_at
    base = stamp.strftime(VERSION_FORMAT)
    latest = latest_version(root)
    if latest is not None and base < _order(latest)[0]:
        base = _order(latest)[0]
    taken = {p.name for p in root.iterdir()} if root.is_dir() else set()
    candidate, n = base, 1
    while candidate in taken or (latest is not None and _order(candidate) <= _order(latest)):
        n += 1
        candidate = f"{base}-{n:02d}"
    return candidate


def read_manifest(root: Path, version: str) -> dict[str, object]:
    """The manifest of ``version``; a :class:`DataError` listing the versions there are when it does not exist."""
    path = Path(root) / version / MANIFEST
    if not _VERSION.match(version) or not path.is_file():
        known = list_versions(root)
        listed = ", ".join(known[-5:]) if known else "none yet: run `b2bscore segment --data DIR` first"
        raise DataError(f"no segmentation version {version!r} in {root}; versions: {listed}")
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class VersionComparison:
    """``diff`` of ``version`` against ``previous`` (both version ids under ``root``)."""

    root: Path
    version: str
    previous: str
    diff: SegmentDiff


def compare_versions(root: Path, version: str | None = None, against: str | None = None) -> VersionComparison:
    """Compare two stored versions from their files, without segmenting again.

    ``version`` defaults to the latest; ``against`` to the version it was compared with when it was
    made (its manifest's ``previous_version``).
    """
    root = Path(root)
    if version is None:
        version = latest_version(root)
        if version is None:
            raise DataError(f"no segmentation versions in {root} yet: run `b2bscore segment --data DIR` first")
    manifest = read_manifest(root, version)
    if against is None:
        against = manifest.get("previous_version")
        if against is None:
            raise DataError(f"segmentation version {version} is the first one, so there is nothing to compare it with; "
                            "run `b2bscore segment --data DIR` again once new data has arrived")
    read_manifest(root, against)
    before, after = _read(root / against), _read(root / version)
    return VersionComparison(root=root, version=version, previous=against,
                             diff=diff_assignments(before[0], after[0], before[1], after[1]))


def _read(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    paths = [folder / name for name in ("assignments.parquet", "features.parquet")]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"segmentation version {folder} lacks {', '.join(missing)}")
    return pd.read_parquet(paths[0]), pd.read_parquet(paths[1])
