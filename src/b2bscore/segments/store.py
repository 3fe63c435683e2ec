"""The segmentation versions kept under the project home, ``home/segments/<version>/``, and their one owner,
:class:`SegmentStore`: the segment job stages and publishes versions through it; monitoring, serving and the demo
read them back through it.

A version id is the UTC creation time, ``20261123T141501Z``, with ``-02``, ``-03``, ... appended when
that second is already taken, so ids sort by creation. A folder is a *complete* version when it holds
``manifest.json``: the job builds a version in a hidden temporary folder beside the others and renames
it into place only when everything is written, so a failed job leaves no version behind; the staging folder of a
job that was killed is removed by the next job that stages one.

A version folder holds ``assignments.parquet``, ``features.parquet`` (what the next refresh diffs against),
``profiles.json``, ``kpis.csv``, ``campaigns.csv`` (ROI per campaign and campaign x segment), ``ranked_accounts.csv``, ``summary.html``, ``diff.json`` and ``segmentation.json``
(:data:`FILES`, written by :func:`write_segmentation`), then the job's ``diff.txt`` and ``manifest.json``.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from b2bscore.errors import ConfigError, DataError
from b2bscore.home import ProjectHome
from b2bscore.io import remove_leftovers, temporary_name
from b2bscore.segments.acquisition import CAMPAIGN_COLUMNS
from b2bscore.segments.assign import SEGMENT_KINDS
from b2bscore.segments.diff import SegmentDiff, diff_assignments, diff_kpis
from b2bscore.segments.kpis import rounded_kpis
from b2bscore.segments.segment import SegmentationResult, SegmentationSnapshot

VERSION_FORMAT = "%Y%m%dT%H%M%SZ"
MANIFEST = "manifest.json"
ASSIGNMENTS, FEATURES, PROFILES = "assignments.parquet", "features.parquet", "profiles.json"
KPIS, RANKED, SUMMARY = "kpis.csv", "ranked_accounts.csv", "summary.html"
CAMPAIGNS = "campaigns.csv"
CALLS_PROSPECTS, CALLS_CUSTOMERS = "call_list_prospects.csv", "call_list_customers.csv"
DIFF, SEGMENTATION, DIFF_TEXT = "diff.json", "segmentation.json", "diff.txt"
FILES: tuple[str, ...] = (ASSIGNMENTS, FEATURES, PROFILES, KPIS, CAMPAIGNS, RANKED, CALLS_PROSPECTS, CALLS_CUSTOMERS,
                          SUMMARY, DIFF, SEGMENTATION)
"""What :func:`write_segmentation` writes: one segmentation, before the job adds ``diff.txt`` and the manifest."""
_VERSION = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d{2,}))?$")
_NO_VERSION_YET = "run `b2bscore segment --data DIR` first"


@dataclass(frozen=True)
class SegmentLabels:
    """The per-account segment labels of one stored version, read back: ``account_id`` and the label columns
    asked for (those the version has). ``version`` and ``frame`` are None when there is no version yet."""

    version: str | None
    frame: pd.DataFrame | None


@dataclass(frozen=True)
class DiffSummary:
    """The counts of a stored version's diff against ``previous_version``, without the moved accounts themselves."""

    version: str
    previous_version: str
    compared_accounts: int
    moved_counts: dict[str, int]
    moved_accounts: int
    new_accounts: int
    removed_accounts: int


@dataclass(frozen=True)
class VersionComparison:
    """``diff`` of ``version`` against ``previous`` (both version ids under ``root``)."""

    root: Path
    version: str
    previous: str
    diff: SegmentDiff


class StagedVersion:
    """A version being built in a hidden folder beside the others; :meth:`publish` renames it into place."""

    def __init__(self, version: str, folder: Path, final: Path) -> None:
        self.version, self.folder, self.final = version, folder, final

    def write_segmentation(self, result: SegmentationResult) -> None:
        _write_files(result, self.folder)

    def write_diff_text(self, text: str) -> None:
        (self.folder / DIFF_TEXT).write_text(text + "\n", encoding="utf-8")

    def write_manifest(self, manifest: dict[str, object]) -> None:
        _dump(self.folder / MANIFEST, manifest)

    def files(self) -> list[str]:
        """The names written so far, sorted."""
        return sorted(p.name for p in self.folder.iterdir())

    def publish(self) -> Path:
        """Make the version visible (all or nothing); a :class:`DataError` when its id was taken meanwhile."""
        if self.final.exists():
            raise DataError(f"segmentation version {self.final} appeared while this job ran; run the job again")
        self.folder.rename(self.final)
        return self.final


@dataclass(frozen=True)
class SegmentStore:
    """The segmentation versions in ``root`` (a project home's ``segments_dir``): listing, reading back, staging."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @classmethod
    def of(cls, home: ProjectHome) -> SegmentStore:
        return cls(home.segments_dir)

    def versions(self) -> list[str]:
        """The complete versions, oldest first."""
        if not self.root.is_dir():
            return []
        names = [p.name for p in self.root.iterdir()
                 if p.is_dir() and _VERSION.match(p.name) and (p / MANIFEST).is_file()]
        return sorted(names, key=_order)

    def latest(self) -> str | None:
        """The newest complete version, or None when there is none yet."""
        versions = self.versions()
        return versions[-1] if versions else None

    def path(self, version: str) -> Path:
        """The folder of ``version`` (which may not exist)."""
        return self.root / version

    def manifest(self, version: str) -> dict[str, object]:
        """The manifest of ``version``; a :class:`DataError` listing the versions there are when it does not exist."""
        path = self.root / version / MANIFEST
        if not _VERSION.match(version) or not path.is_file():
            known = self.versions()
            listed = ", ".join(known[-5:]) if known else f"none yet: {_NO_VERSION_YET}"
            raise DataError(f"no segmentation version {version!r} in {self.root}; versions: {listed}")
        return json.loads(path.read_text(encoding="utf-8"))

    def labels(self, version: str | None = None, columns: tuple[str, ...] = SEGMENT_KINDS) -> SegmentLabels:
        """Each account's ``columns`` (segment kinds) in ``version`` (default: the latest; none yet: empty labels)."""
        if version is None:
            version = self.latest()
            if version is None:
                return SegmentLabels(None, None)
        else:
            self.manifest(version)
        path = self._file(version, ASSIGNMENTS)
        try:
            present = set(pq.read_schema(path).names)  # an older version may lack a kind: read those it has
            wanted = [c for c in ("account_id", *columns) if c in present]
            return SegmentLabels(version, pd.read_parquet(path, columns=wanted))
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"cannot read segmentation version {version}: {path} is damaged ({exc}); remove that "
                            "version's folder or run `b2bscore segment --data DIR` again") from None

    def snapshot(self, version: str) -> SegmentationSnapshot:
        """``version``'s assignments and the features they were built from, to compare a new segmentation with."""
        return read_segmentation(self.root / version)

    def diff_summary(self, version: str) -> DiffSummary | None:
        """What moved in ``version`` since the version it was compared with (None for a first version)."""
        previous = self.manifest(version).get("previous_version")
        path = self.root / version / DIFF
        if not previous or not path.is_file():
            return None
        diff = json.loads(path.read_text(encoding="utf-8"))
        return DiffSummary(version=version, previous_version=str(previous),
                           compared_accounts=int(diff.get("compared_accounts", 0)),
                           moved_counts={str(k): int(v) for k, v in diff.get("moved_counts", {}).items()},
                           moved_accounts=len({m["account_id"] for m in diff.get("moved", [])}),
                           new_accounts=len(diff.get("new_accounts", [])),
                           removed_accounts=len(diff.get("removed_accounts", [])))

    def compare(self, version: str | None = None, against: str | None = None) -> VersionComparison:
        """Compare two stored versions from their files, without segmenting again.

        ``version`` defaults to the latest; ``against`` to the version it was compared with when it was
        made (its manifest's ``previous_version``).
        """
        if version is None:
            version = self.latest()
            if version is None:
                raise DataError(f"no segmentation versions in {self.root} yet: {_NO_VERSION_YET}")
        manifest = self.manifest(version)
        if against is None:
            against = manifest.get("previous_version")
            if against is None:
                raise DataError(f"segmentation version {version} is the first one, so there is nothing to compare it "
                                "with; run `b2bscore segment --data DIR` again once new data has arrived")
        self.manifest(against)
        before, after = self.snapshot(against), self.snapshot(version)
        diff = diff_assignments(before.assignments, after.assignments, before.features, after.features)
        if before.kpis is not None and after.kpis is not None:
            diff = replace(diff, kpi_moves=diff_kpis(before.kpis, after.kpis))
        return VersionComparison(root=self.root, version=version, previous=against, diff=diff)

    def new_version_id(self, created_at: datetime) -> str:
        """A free id for a version created at ``created_at`` that sorts after every version already here.

        A clock that went back (or a ``created_at`` in the past) continues from the latest id instead,
        so "the latest version" stays "the one created last".
        """
        stamp = created_at.astimezone(timezone.utc) if created_at.tzinfo else created_at
        base = stamp.strftime(VERSION_FORMAT)
        latest = self.latest()
        if latest is not None and base < _order(latest)[0]:
            base = _order(latest)[0]
        taken = {p.name for p in self.root.iterdir()} if self.root.is_dir() else set()
        candidate, n = base, 1
        while candidate in taken or (latest is not None and _order(candidate) <= _order(latest)):
            n += 1
            candidate = f"{base}-{n:02d}"
        return candidate

    @contextmanager
    def stage(self, version: str) -> Iterator[StagedVersion]:
        """A hidden folder to build ``version`` in; whatever was not published is removed on leaving."""
        self.root.mkdir(parents=True, exist_ok=True)
        folder = _staging_folder(self.root, version)
        try:
            yield StagedVersion(version, folder, self.root / version)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _file(self, version: str, name: str) -> Path:
        path = self.root / version / name
        if not path.is_file():
            raise DataError(f"segmentation version {self.root / version} lacks {name}")
        return path


def write_segmentation(result: SegmentationResult, out_dir: Path) -> None:
    """Write ``result`` (:data:`FILES`) into the new folder ``out_dir``, all or nothing: a failure leaves no
    half-written folder, and an existing one is never overwritten."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise ConfigError(f"segmentation output {out_dir} already exists; versions are never overwritten, choose a new folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = _staging_folder(out_dir.parent, out_dir.name)
    try:
        _write_files(result, staging)
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def read_segmentation(folder: Path) -> SegmentationSnapshot:
    """The assignments and features of a folder written by :func:`write_segmentation` (or a stored version)."""
    paths = [Path(folder) / name for name in (ASSIGNMENTS, FEATURES)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise DataError(f"segmentation {folder} lacks {', '.join(missing)}")
    kpis = Path(folder) / KPIS
    return SegmentationSnapshot(assignments=pd.read_parquet(paths[0]), features=pd.read_parquet(paths[1]),
                                source=str(folder), kpis=pd.read_csv(kpis) if kpis.is_file() else None)


def _write_files(result: SegmentationResult, folder: Path) -> None:
    diff = result.diff
    writers: dict[str, Callable[[Path], object]] = {
        ASSIGNMENTS: lambda p: result.assignments.frame.to_parquet(p, index=False),
        FEATURES: lambda p: result.features.to_parquet(p, index=False),
        PROFILES: lambda p: _dump(p, [pr.to_dict() for pr in result.assignments.profiles]),
        KPIS: lambda p: rounded_kpis(result.kpis).to_csv(p, index=False),
        CAMPAIGNS: lambda p: _campaigns(result).to_csv(p, index=False),
        RANKED: lambda p: result.ranked.to_csv(p, index=False),
        CALLS_PROSPECTS: lambda p: _calls(result).prospects.to_csv(p, index=False),
        CALLS_CUSTOMERS: lambda p: _calls(result).customers.to_csv(p, index=False),
        SUMMARY: lambda p: p.write_text(result.summary, encoding="utf-8"),
        DIFF: lambda p: _dump(p, diff.to_dict() if diff else {"previous": None, "note": "first version: nothing to compare"}),
        SEGMENTATION: lambda p: _dump(p, result.manifest),
    }
    for name in FILES:
        writers[name](folder / name)


def _campaigns(result: SegmentationResult) -> pd.DataFrame:
    """The campaign table as tools read it (money to 2 decimals, ROI and credits to 4); header only without one."""
    if result.campaigns is None:
        return pd.DataFrame({c: [] for c in CAMPAIGN_COLUMNS})
    frame = result.campaigns.copy()
    for column, decimals in (("cost", 2), ("revenue", 2), ("roi", 4), ("credited_deals", 4)):
        frame[column] = frame[column].astype(float).round(decimals)
    return frame


def _calls(result: SegmentationResult):
    if result.calls is None:
        raise DataError("the segmentation has no call lists (made by segment_accounts)")
    return result.calls


def _staging_folder(parent: Path, name: str) -> Path:
    """A new hidden folder named for this process (:func:`b2bscore.io.temporary_name`), after removing the staging
    folders that killed jobs left in ``parent``."""
    remove_leftovers(parent)
    folder = parent / temporary_name(name)
    folder.mkdir(mode=0o755)
    return folder


def _dump(path: Path, payload: object) -> None:
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")


def _order(version: str) -> tuple[str, int]:
    match = _VERSION.match(version)
    return match.group(1), int(match.group(2) or 1)
