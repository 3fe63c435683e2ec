"""Writing outputs so that a crash never leaves a half-written file under a final name.

Every output is written to a fresh temporary name beside it (:func:`temporary_name`: the final name, ``.partial``,
the writer's host and process id and a random part), then renamed into place (:func:`atomic_output`). A process
killed mid-write (kill -9, the OOM killer, a power cut) leaves only such a temporary file or folder; the next
writer of the same folder removes the ones whose process is gone (:func:`remove_leftovers`) and never appends to
them. Result tables go to CSV or Parquet, chosen by the file's extension (:func:`write_table`).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from b2bscore.errors import DataError

OUTPUT_SUFFIXES = (".csv", ".parquet")
PARTIAL = ".partial"
LEFTOVER_MAX_AGE_S = 24 * 3600.0
"""A temporary output written by another machine is removed once it is this old (its writer cannot be asked)."""
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.partial-(?P<host>[^.]*)-(?P<pid>\d+)-[0-9a-f]+$")
_LEGACY = re.compile(r"^\.(?P<name>.+)\.partial-[A-Za-z0-9_]{8}$")
"""The staging folders of b2bscore 0.2 (``tempfile.mkdtemp``): no writer recorded, so left alone unless empty or old."""


def _host(name: str | None = None) -> str:
    """``name`` (default: this machine's) as it appears in a temporary name: letters and digits only."""
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname() if name is None else name)[:32]


def temporary_name(name: str) -> str:
    """A hidden name, unique to this process and call, under which to write ``name`` before renaming it."""
    return f".{name}{PARTIAL}-{_host()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def process_gone(host: str, pid: int) -> bool | None:
    """Whether process ``pid`` of ``host`` has ended: None when ``host`` is another machine (it cannot be asked)."""
    if _host(host) != _host():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return False


def is_leftover(path: Path, *, max_age_s: float = LEFTOVER_MAX_AGE_S) -> bool:
    """True for a temporary output (:func:`temporary_name`) whose writer has ended (or, from another machine, one
    older than ``max_age_s``): nobody will ever rename it into place. A staging folder of an earlier version
    (:data:`_LEGACY`) is a leftover when it is empty or older than ``max_age_s``."""
    path = Path(path)
    match = _TEMPORARY.match(path.name)
    gone = None if match is None else process_gone(match["host"], int(match["pid"]))
    if gone is not None:
        return gone
    if match is None and _LEGACY.match(path.name) is None:
        return False
    try:
        if match is None and path.is_dir() and not any(path.iterdir()):
            return True
        return time.time() - path.lstat().st_mtime > max_age_s
    except FileNotFoundError:
        return False


def remove_leftovers(folder: Path, name: str | None = None) -> list[Path]:
    """Remove the temporary outputs in ``folder`` (of final name ``name`` only, when given) left by writers that
    have ended; the paths removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for path in folder.iterdir():
        match = _TEMPORARY.match(path.name) or _LEGACY.match(path.name)
        if match is None or (name is not None and match["name"] != name) or not is_leftover(path):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _cannot_write(path: Path, exc: OSError) -> DataError:
    reason = exc.strerror or type(exc).__name__
    return DataError(f"cannot write output file {path}: {reason}" + (f" ({exc.filename})" if exc.filename and
                                                                        str(exc.filename) != str(path) else ""))


def check_writable(path: Path) -> None:
    """Raise one clear :class:`DataError` when ``path`` cannot be written: a folder of that name, an ancestor that is
    a file, or a folder this process may not write in (checked before a long job, not after it)."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"cannot write output file {path}: it is a folder")
    parent = path.parent
    while not parent.exists():
        if parent == parent.parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        raise DataError(f"cannot write output file {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DataError(f"cannot write output file {path}: {parent} is not writable")


@contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write; renamed to ``path`` when the block ends without error, removed
    when it fails. The parent folder is created; the temporary leftovers of ended writers in it are removed."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    remove_leftovers(path.parent)
    temporary = path.with_name(temporary_name(path.name))
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; a path that cannot be written raises one :class:`DataError`."""
    path = Path(path)
    try:
        with atomic_output(path) as temporary:
            temporary.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    return path


def check_table_path(path: Path) -> None:
    """What :func:`write_table` checks before writing (a .csv or .parquet name, a place that can be written), for a
    job to call before its long computation."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES and not path.is_dir():
        raise DataError(f"output file {path}: unsupported extension {suffix or '(none)'!r}; use .csv or .parquet")
    check_writable(path)


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` to ``path`` (.csv or .parquet) atomically, creating the parent folder; a path that cannot be
    written raises one :class:`DataError` naming it."""
    path = Path(path)
    suffix = path.suffix.lower()
    check_table_path(path)
    try:
        with atomic_output(path) as temporary:
            if suffix == ".csv":
                frame.to_csv(temporary, index=False)
            else:
                frame.to_parquet(temporary, index=False)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    return path
