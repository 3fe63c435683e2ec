"""The prediction log: parts written whole (never a truncated part under a final name), unreadable parts skipped
and named, and the service's buffer writing one part per N rows or S seconds instead of one per request."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone

import pandas as pd
import pytest

from b2bscore.serving.predlog import PART_GLOB, PredictionBuffer, PredictionLog

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def _batch(first: int, n: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = [f"L{first + i}" for i in range(n)]
    scores = pd.DataFrame({"lead_id": ids, "account_id": "A1", "as_of": pd.Timestamp("2026-03-01"),
                           "probability": 0.5, "score": 50, "job_title": "CEO", "reasons_for": "[]"})
    features = pd.DataFrame({"lead_id": ids, "account_id": "A1", "as_of": pd.Timestamp("2026-03-01"),
                             "employees": 10.0})
    return scores, features


def _parts(root) -> list:
    return sorted((root / "leads").glob(PART_GLOB))


def test_a_truncated_part_is_skipped_with_a_warning_naming_it(tmp_path, caplog):
    log = PredictionLog(tmp_path)
    good = [log.append("leads", *_batch(i), source="api", now=NOW) for i in range(3)]
    broken = good[1]
    broken.write_bytes(broken.read_bytes()[: broken.stat().st_size // 2])  # a crash mid-write of an older version
    with caplog.at_level(logging.WARNING, logger="b2bscore.serving.predlog"):
        frame = log.read("leads")
    assert sorted(frame["lead_id"]) == ["L0", "L2"]
    assert log.skipped == [broken]
    assert str(broken) in caplog.text and "unreadable" in caplog.text
    assert "job_title" not in frame.columns and "reasons_for" not in frame.columns  # no personal data


def test_a_part_that_fails_mid_write_leaves_nothing_a_reader_sees(tmp_path, monkeypatch):
    log = PredictionLog(tmp_path)
    log.append("leads", *_batch(0), source="api", now=NOW)

    def half_then_crash(self, path, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"PAR1 half a part")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_then_crash)
    with pytest.raises(OSError):
        log.append("leads", *_batch(1), source="api", now=NOW)
    monkeypatch.undo()
    assert len(_parts(tmp_path)) == 1
    assert list(log.read("leads")["lead_id"]) == ["L0"] and log.skipped == []
    assert [p.name for p in (tmp_path / "leads").rglob("*") if p.is_file() and p.name.startswith(".")] == []


def test_the_buffer_writes_one_part_per_n_rows_or_s_seconds_not_one_per_request(tmp_path):
    clock = [0.0]
    log = PredictionLog(tmp_path)
    buffer = PredictionBuffer(log, max_rows=250, max_seconds=60, clock=lambda: clock[0])
    for i in range(700):  # 700 single-record requests
        buffer.add("leads", *_batch(i), source="api", now=NOW)
    assert len(_parts(tmp_path)) == 2 and buffer.pending("leads") == 200  # two full parts of 250
    clock[0] = 59.0
    assert buffer.flush_due() == []
    clock[0] = 60.0
    assert len(buffer.flush_due()) == 1 and buffer.pending("leads") == 0
    frame = log.read("leads")
    assert len(frame) == 700 and frame["lead_id"].is_unique and set(frame["source"]) == {"api"}
    assert buffer.flush() == []  # nothing left to write


def test_the_buffer_is_safe_from_many_threads_and_flush_writes_the_rest(tmp_path):
    log = PredictionLog(tmp_path)
    buffer = PredictionBuffer(log, max_rows=97, max_seconds=3600)

    def client(offset: int) -> None:
        for i in range(100):
            buffer.add("leads", *_batch(offset + 3 * i, 3), source="api", now=NOW)

    threads = [threading.Thread(target=client, args=(10_000 * t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    buffer.flush()
    frame = log.read("leads")
    assert len(frame) == 8 * 300 and frame["lead_id"].is_unique
    assert len(_parts(tmp_path)) <= 8 * 300 // 97 + 1


def test_rows_of_two_days_go_to_two_date_folders(tmp_path):
    log = PredictionLog(tmp_path)
    buffer = PredictionBuffer(log, max_rows=1000, max_seconds=60)
    buffer.add("leads", *_batch(0), source="api", now=datetime(2026, 3, 1, 23, 59, 59, tzinfo=timezone.utc))
    buffer.add("leads", *_batch(1), source="api", now=datetime(2026, 3, 2, 0, 0, 1, tzinfo=timezone.utc))
    written = buffer.flush()
    assert sorted(p.parent.name for p in written) == ["date=2026-03-01", "date=2026-03-02"]
    assert len(log.read("leads")) == 2


def test_a_failed_flush_keeps_the_rows_for_the_next_one(tmp_path, monkeypatch):
    log = PredictionLog(tmp_path)
    buffer = PredictionBuffer(log, max_rows=1000, max_seconds=60)
    buffer.add("leads", *_batch(0, 5), source="api", now=NOW)
    real_write = PredictionLog.write
    monkeypatch.setattr(PredictionLog, "write", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "disk full")))
    assert buffer.flush() == [] and buffer.pending("leads") == 5
    monkeypatch.setattr(PredictionLog, "write", real_write)
    assert len(buffer.flush()) == 1 and len(log.read("leads")) == 5


def test_a_temporary_part_left_by_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    log = PredictionLog(tmp_path)
    first = log.append("leads", *_batch(0), source="api", now=NOW)
    leftover = first.parent / f".{first.name}.partial-{_host()}-999999999-0123abcd"  # pid 999999999: gone
    leftover.write_bytes(b"PAR1 half")
    log.append("leads", *_batch(1), source="api", now=NOW)
    assert not leftover.exists() and len(_parts(tmp_path)) == 2


def _host() -> str:
    import socket

    return "".join(c for c in socket.gethostname() if c.isalnum())[:32]


def test_records_sharing_ids_are_logged_once_each_with_their_own_inputs(tmp_path):
    """Two records of one batch with the same lead_id and account_id (issue 13, item 1): scores and features are
    row-aligned, so the log keeps two rows, each beside its own inputs (a join on the ids made four)."""
    as_of = pd.Timestamp("2024-04-01")
    scores = pd.DataFrame({"lead_id": ["L1", "L1"], "account_id": ["A1", "A1"], "as_of": [as_of, as_of],
                           "probability": [0.1, 0.7]})
    features = pd.DataFrame({"lead_id": ["L1", "L1"], "account_id": ["A1", "A1"], "as_of": [as_of, as_of],
                             "web_visit_30d": [0.0, 9.0]})
    log = PredictionLog(tmp_path)
    log.append("leads", scores, features, source="api", now=datetime(2024, 4, 1, 12, tzinfo=timezone.utc))
    rows = log.read("leads")
    assert rows[["probability", "web_visit_30d"]].values.tolist() == [[0.1, 0.0], [0.7, 9.0]]
