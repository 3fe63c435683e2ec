"""Serving speed: the real service over HTTP on 127.0.0.1 beside in-process scoring of the same records, same run.

Measures
- single-lead latency p50/p99: HTTP ``score_leads`` with one record vs the in-process function the service calls
  (``b2bscore.serving.api.score_lead_records``, validation included);
- 1000-lead batch throughput (leads/s), HTTP vs in process;
- the cost of reasons: LightGBM ``pred_contrib`` vs plain ``predict`` on the same feature rows;
- a bounded load test: single-lead requests at a fixed rate for a fixed time, errors and the server's memory.

Usage (a trained home and its data directory, e.g. after ``b2bscore demo --home H``)::

    python benchmarks/serving_bench.py --home H --data H/world --single 200 --batches 3 --load-seconds 60 --rate 10
    python benchmarks/serving_bench.py --home H --data H/world --only-load --workers 2 --load-seconds 60 --rate 8
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import requests

from b2bscore.data.load import load_dataset
from b2bscore.home import ProjectHome
from b2bscore.records import api_records
from b2bscore.serving.api import score_lead_records
from b2bscore.serving.schemas import LeadRecord
from b2bscore.serving.store import ModelStore


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lead_records(data_dir: Path, n: int) -> list[dict]:
    """``n`` open-lead records in the API's shape (repeated with new lead ids when the world has fewer)."""
    data = load_dataset(data_dir)[0]
    as_of = data.end + pd.Timedelta(seconds=1)
    leads = data.open_leads(as_of).merge(data.leads[["lead_id", "account_id"]], on="lead_id")
    base = api_records(data, leads.head(n))
    out = []
    for i in range(n):
        record = json.loads(json.dumps(base[i % len(base)]))
        record["lead"]["lead_id"] = f"{record['lead']['lead_id']}-{i}"
        out.append(record)
    return out


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "n": len(ms)}


class Service:
    def __init__(self, home: Path, max_batch: int, workers: int = 1) -> None:
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        cli = Path(sys.executable).parent / "b2bscore"
        self.log = open(home / "bench-serve.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen([str(cli), "serve", "--port", str(self.port), "--home", str(home),
                                         "--max-batch", str(max_batch), "--workers", str(workers)], stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + 180
        while True:
            try:
                if requests.get(f"{self.url}/ready", timeout=2).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the service did not start; see {home / 'bench-serve.log'}")
            time.sleep(0.5)

    def rss_mb(self) -> float:
        root = psutil.Process(self.process.pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)
        self.log.close()


def load_test(url: str, records: list[dict], seconds: float, rate: float, service: Service) -> dict[str, float]:
    """Open-loop single-lead requests at ``rate``/s for ``seconds`` (bounded), from a small thread pool."""
    session = requests.Session()
    interval, start = 1.0 / rate, time.monotonic()
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    rss = [service.rss_mb()]

    def one(i: int) -> None:
        t = time.perf_counter()
        try:
            r = session.post(f"{url}/score_leads", json={"leads": [records[i % len(records)]]}, timeout=30)
            ok = r.status_code == 200
        except requests.RequestException:
            ok = False
        with lock:
            latencies.append(time.perf_counter() - t)
            errors[0] += 0 if ok else 1

    threads, i = [], 0
    while (now := time.monotonic() - start) < seconds:
        if i * interval <= now:
            thread = threading.Thread(target=one, args=(i,))
            thread.start()
            threads.append(thread)
            i += 1
            if i % max(1, int(rate * 10)) == 0:
                rss.append(service.rss_mb())
        time.sleep(0.001)
    for thread in threads:
        thread.join()
    rss.append(service.rss_mb())
    return {"requests": i, "achieved_rate": i / seconds, "errors": errors[0], **percentiles(latencies),
            "rss_start_mb": rss[0], "rss_after_warmup_mb": rss[min(1, len(rss) - 1)], "rss_end_mb": rss[-1]}


def only_load(args) -> None:
    records = lead_records(args.data, 200)
    service = Service(ProjectHome.resolve(args.home).root, max_batch=10, workers=args.workers)
    try:
        requests.post(f"{service.url}/score_leads", json={"leads": records[:1]}, timeout=60)  # warm-up
        result = {"workers": args.workers, **load_test(service.url, records, args.load_seconds, args.rate, service)}
    finally:
        service.stop()
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--single", type=int, default=200, help="single-lead requests timed")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--load-seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=10, help="requests per second during the load test")
    parser.add_argument("--workers", type=int, default=1, help="service worker processes")
    parser.add_argument("--only-load", action="store_true", help="run the load test only")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.only_load:
        return only_load(args)

    home = ProjectHome.resolve(args.home)
    records = lead_records(args.data, args.batch_size)
    store = ModelStore(home)
    store.refresh()
    scorer = store.snapshot.scorers["conversion"]
    results: dict[str, object] = {"records": len(records)}

    # in process: validation + the scoring function the service calls
    single = []
    for i in range(args.single):
        t = time.perf_counter()
        score_lead_records(scorer, [LeadRecord.model_validate(records[i % len(records)])])
        single.append(time.perf_counter() - t)
    results["in_process_single"] = percentiles(single)
    batch = []
    for _ in range(args.batches):
        t = time.perf_counter()
        score_lead_records(scorer, [LeadRecord.model_validate(r) for r in records])
        batch.append(time.perf_counter() - t)
    results["in_process_batch_leads_per_s"] = len(records) / float(np.median(batch))

    # reasons: contributions (pred_contrib) vs predict on the same rows
    _, features = score_lead_records(scorer, [LeadRecord.model_validate(r) for r in records])
    model = scorer.champion.model
    rows = pd.concat([features] * 10, ignore_index=True)
    t = time.perf_counter()
    model.predict(rows)
    plain = time.perf_counter() - t
    t = time.perf_counter()
    model.contributions(rows)
    contrib = time.perf_counter() - t
    results["reasons"] = {"rows": len(rows), "predict_rows_per_s": len(rows) / plain,
                          "pred_contrib_rows_per_s": len(rows) / contrib, "trees": model.best_iteration_,
                          "num_leaves": model.lgbm.num_leaves}

    service = Service(home.root, max_batch=args.batch_size, workers=args.workers)
    try:
        session = requests.Session()
        url = service.url
        session.post(f"{url}/score_leads", json={"leads": records[:1]}, timeout=60)  # warm-up
        single = []
        for i in range(args.single):
            t = time.perf_counter()
            r = session.post(f"{url}/score_leads", json={"leads": [records[i % len(records)]]}, timeout=60)
            single.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
        results["http_single"] = percentiles(single)
        batch = []
        for _ in range(args.batches):
            t = time.perf_counter()
            r = session.post(f"{url}/score_leads", json={"leads": records}, timeout=600)
            batch.append(time.perf_counter() - t)
            assert r.status_code == 200 and len(r.json()) == len(records), r.text[:300]
        results["http_batch_leads_per_s"] = len(records) / float(np.median(batch))
        if args.load_seconds > 0:
            results["load"] = load_test(url, records, args.load_seconds, args.rate, service)
    finally:
        service.stop()

    inproc, http = results["in_process_single"], results["http_single"]
    results["targets"] = {
        "batch_throughput_ratio": results["http_batch_leads_per_s"] / results["in_process_batch_leads_per_s"],
        "batch_target": ">= 0.5",
        "single_p50_ms": http["p50_ms"], "single_p50_limit_ms": 2 * inproc["p50_ms"] + 5,
    }
    print(json.dumps(results, indent=1))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
