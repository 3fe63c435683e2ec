"""Scoring by id (issue 18), in one run on one machine: the online store written by ``b2bscore score``, then over
HTTP on 127.0.0.1, one worker each:

- (a) the floor: a bare BentoML service returning LightGBM's prediction for a stored feature vector
  (``benchmarks/bare_service.py``), p50/p99 of single requests;
- single lead by id: ``POST /score_leads {"leads": [{"lead_id": ...}]}`` on ``b2bscore serve``, with reasons, p50/p99;
- (b) today's full-history request for the same leads (the record with the account's whole history), p50/p99;
- a batch of 1,000 ids in one request (leads/s);
- a load test: single-lead by-id requests at ``--rate``/s for ``--load-seconds``, errors and the service's memory;
- in process, the lookups: the store's ``rows`` (one id; 1,000 ids), Feast's own ``online_read`` and
  ``get_online_features`` on a Feast-written copy of the same rows (why the service reads the rows directly).

Usage (a trained home and its data, e.g. after ``b2bscore demo --home H``)::

    python benchmarks/online_bench.py --home H --data H/world --single 300 --load-seconds 60 --rate 50 --out r.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving_bench import _port, percentiles  # noqa: E402

from b2bscore.data.load import load_dataset  # noqa: E402
from b2bscore.home import ProjectHome  # noqa: E402
from b2bscore.records import api_records  # noqa: E402
from b2bscore.serving.batch import score_dataset  # noqa: E402
from b2bscore.serving.byid import StoredScorer  # noqa: E402
from b2bscore.serving.online import OnlineFeatures, StoreLocation, row_layout  # noqa: E402
from b2bscore.serving.store import ModelStore  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


class Server:
    """A server process (its own process group) answering on ``path`` once ready; its memory with its children."""

    def __init__(self, argv: list[str], log: Path, ready: str = "/ready") -> None:
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "w")  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if k != "B2BSCORE_API_KEY"}
        self.process = subprocess.Popen([*argv, "--port", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True, cwd=ROOT, env=env)
        deadline = time.monotonic() + 180
        while True:
            try:
                if requests.get(f"{self.url}{ready}", timeout=2).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start; see {log}")
            time.sleep(0.5)

    def rss_mb(self) -> float:
        root = psutil.Process(self.process.pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)
        self.log.close()


def timed(session: requests.Session, url: str, bodies: list[dict], n: int, check) -> dict:
    for body in bodies[:5]:  # warm-up
        check(session.post(url, json=body, timeout=60))
    seconds = []
    for i in range(n):
        t = time.perf_counter()
        response = session.post(url, json=bodies[i % len(bodies)], timeout=60)
        seconds.append(time.perf_counter() - t)
        check(response)
    return percentiles(seconds)


def _scored(response) -> None:
    assert response.status_code == 200, response.text[:300]
    assert all(r.get("error") is None for r in response.json()), response.text[:300]


def load_test(server: Server, ids: list[str], seconds: float, rate: float) -> dict:
    """Open-loop single-lead by-id requests at ``rate``/s for ``seconds``; errors, latency and memory every second."""
    url = f"{server.url}/score_leads"
    local = threading.local()
    latencies, errors, lock = [], [0], threading.Lock()
    rss = []

    def one(i: int) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        t = time.perf_counter()
        try:
            r = session.post(url, json={"leads": [{"lead_id": ids[i % len(ids)]}]}, timeout=30)
            ok = r.status_code == 200 and r.json()[0]["error"] is None
        except requests.RequestException:
            ok = False
        with lock:
            latencies.append(time.perf_counter() - t)
            errors[0] += 0 if ok else 1

    from concurrent.futures import ThreadPoolExecutor

    start, i = time.monotonic(), 0
    with ThreadPoolExecutor(max_workers=16) as pool:
        while (now := time.monotonic() - start) < seconds:
            if i / rate <= now:
                pool.submit(one, i)
                i += 1
                if i % int(rate) == 0:
                    rss.append(server.rss_mb())
            else:
                time.sleep(min(0.002, i / rate - now))
    return {"requests": i, "seconds": seconds, "achieved_rate": i / seconds, "errors": errors[0],
            **percentiles(latencies), "rss_first_mb": rss[0], "rss_after_10s_mb": rss[min(10, len(rss) - 1)],
            "rss_last_mb": rss[-1], "rss_max_mb": max(rss)}


def feast_lookups(home: ProjectHome, scorer, ids: list[str], online: OnlineFeatures) -> dict:
    """Feast's own read paths on a Feast-written copy of the same lead rows: ``write_to_online_store`` into its SQLite
    store (one row per feature), then ``online_read`` and ``get_online_features`` for one id and for all ids."""
    from feast import FeatureStore, RepoConfig
    from feast.infra.online_stores.sqlite import SqliteOnlineStore, SqliteOnlineStoreConfig
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value
    from feast.repo_config import RegistryConfig

    from b2bscore.features.online import feast_entities, feature_view, stored_columns

    config = scorer.champion.model.feature_config
    name = online.manifest["tasks"]["conversion"]
    source = home.online_store_dir / online.manifest["generation"] / f"{name}.parquet"
    table = pd.read_parquet(source)
    table["as_of"] = pd.to_datetime(table["as_of"]).dt.tz_localize("UTC")
    out = {}
    with tempfile.TemporaryDirectory() as folder:
        repo = RepoConfig(project="bench", provider="local", entity_key_serialization_version=3,
                          registry=RegistryConfig(path=f"{folder}/registry.db"), repo_path=Path(folder),
                          online_store=SqliteOnlineStoreConfig(path=f"{folder}/online.db"))
        store = FeatureStore(config=repo)
        view = feature_view(name, config, "lead", source)
        store.apply([feast_entities()["lead"], view])
        t = time.perf_counter()
        store.write_to_online_store(name, table.astype(object).where(table.notna(), None).assign(as_of=table["as_of"]))
        out["feast_write_rows_per_s"] = len(table) / (time.perf_counter() - t)
        sqlite = SqliteOnlineStore()
        keys = [EntityKey(join_keys=["lead_id"], entity_values=[Value(string_val=i)]) for i in ids]
        refs = [f"{name}:{c}" for c in stored_columns(config, "lead")]
        single_read, single_get = [], []
        for i in range(200):
            t = time.perf_counter()
            sqlite.online_read(repo, view, keys[i % len(keys):i % len(keys) + 1])
            single_read.append(time.perf_counter() - t)
            t = time.perf_counter()
            store.get_online_features(features=refs, entity_rows=[{"lead_id": ids[i % len(ids)]}]).to_dict()
            single_get.append(time.perf_counter() - t)
        out["feast_online_read_single"] = percentiles(single_read)
        out["feast_get_online_features_single"] = percentiles(single_get)
        many = (keys * (1000 // len(keys) + 1))[:1000]
        t = time.perf_counter()
        sqlite.online_read(repo, view, many)
        out["feast_online_read_1000_ids_per_s"] = 1000 / (time.perf_counter() - t)
        rows = [{"lead_id": k.entity_values[0].string_val} for k in many]
        t = time.perf_counter()
        store.get_online_features(features=refs, entity_rows=rows).to_dict()
        out["feast_get_online_features_1000_ids_per_s"] = 1000 / (time.perf_counter() - t)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--single", type=int, default=300, help="single-lead requests timed per path")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--load-seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    home = ProjectHome.resolve(args.home)
    results: dict[str, object] = {}

    # the nightly job: scores and the online store
    data = load_dataset(args.data)[0]
    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        batch = score_dataset(data, Path(folder) / "scores.parquet", home=home, log_predictions=False)
        results["nightly_score_seconds"] = time.perf_counter() - t
        leads = pd.read_parquet(batch.leads_path)
    results["online_store_rows"] = batch.online_store["rows"]
    ids = list(leads["lead_id"])
    results["open_leads"] = len(ids)

    # in process: the lookups and the array path
    store = ModelStore(home)
    store.refresh()
    scorer = store.snapshot.scorers["conversion"]
    online = OnlineFeatures(home, StoreLocation())
    online.refresh()
    config = scorer.champion.model.feature_config
    fast = StoredScorer(scorer, row_layout(config, "lead"))
    single_lookup, single_score = [], []
    for i in range(1000):
        t = time.perf_counter()
        rows = online.rows("conversion", config, "lead", [ids[i % len(ids)]])
        single_lookup.append(time.perf_counter() - t)
        t = time.perf_counter()
        fast.score(rows, [0], entity="lead")
        single_score.append(time.perf_counter() - t)
    many = (ids * (args.batch_size // len(ids) + 1))[:args.batch_size]
    t = time.perf_counter()
    rows = online.rows("conversion", config, "lead", many)
    lookup_many = time.perf_counter() - t
    t = time.perf_counter()
    fast.score(rows, list(range(len(many))), entity="lead")
    score_many = time.perf_counter() - t
    results["in_process"] = {"lookup_single": percentiles(single_lookup), "score_single": percentiles(single_score),
                             "array_path": fast.fast, "lookup_1000_ids_per_s": len(many) / lookup_many,
                             "score_1000_ids_per_s": len(many) / score_many}
    results["feast"] = feast_lookups(home, scorer, ids, online)

    # the vectors of the bare service: the champion's model matrix of the stored rows
    vectors = home.root / "bench-vectors.npz"
    all_rows = online.rows("conversion", config, "lead", ids)
    np.savez(vectors, ids=np.array(ids), matrix=fast.matrix(all_rows, list(range(len(ids)))))

    # (a) the bare BentoML service
    bentoml = str(Path(sys.executable).parent / "bentoml")
    bare = Server([bentoml, "serve", "benchmarks.bare_service:BareService", "--host", "127.0.0.1",
                   "--arg", f"home={home.root}", "--arg", f"vectors={vectors}"], home.root / "bench-bare.log",
                  ready="/readyz")
    try:
        def ok(response):
            assert response.status_code == 200, response.text[:300]

        results["bare_single"] = timed(requests.Session(), f"{bare.url}/predict", [{"lead_id": i} for i in ids],
                                       args.single, ok)
    finally:
        bare.stop()

    # the service: by id, full history, a batch of ids, the load test
    cli = str(Path(sys.executable).parent / "b2bscore")
    service = Server([cli, "serve", "--home", str(home.root), "--max-batch", str(args.batch_size), "--workers", "1"],
                     home.root / "bench-online-serve.log")
    try:
        session = requests.Session()
        url = f"{service.url}/score_leads"
        results["by_id_single"] = timed(session, url, [{"leads": [{"lead_id": i}]} for i in ids], args.single, _scored)
        history = api_records(data, leads.head(50)[["lead_id", "account_id", "as_of"]])
        results["full_history_single"] = timed(session, url, [{"leads": [r]} for r in history],
                                               max(30, args.single // 5), _scored)
        body = {"leads": [{"lead_id": i} for i in many]}
        seconds = []
        for _ in range(args.batches):
            t = time.perf_counter()
            response = session.post(url, json=body, timeout=120)
            seconds.append(time.perf_counter() - t)
            _scored(response)
        results["by_id_batch"] = {"ids": len(many), "distinct": len(set(many)),
                                  "leads_per_s": len(many) / float(np.median(seconds)),
                                  "median_seconds": float(np.median(seconds))}
        if args.load_seconds > 0:
            results["load"] = load_test(service, ids, args.load_seconds, args.rate)
    finally:
        service.stop()
    vectors.unlink(missing_ok=True)

    bare_p50, by_id_p50 = results["bare_single"]["p50_ms"], results["by_id_single"]["p50_ms"]
    results["targets"] = {
        "by_id_p50_over_bare_p50": by_id_p50 / bare_p50, "by_id_p50_target": "<= 2",
        "batch_leads_per_s": results["by_id_batch"]["leads_per_s"], "batch_target": ">= 20000",
        "load_errors": results.get("load", {}).get("errors"),
    }
    print(json.dumps(results, indent=1))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
