import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


import json  # noqa: E402
import shutil  # noqa: E402
import threading  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def _mlflow_template(tmp_path_factory) -> Path:
    """An initialised embedded MLflow database, created once (its schema migrations take seconds)."""
    from mlflow.tracking import MlflowClient

    from b2bscore.home import ProjectHome
    from b2bscore.model.tracking import resolve_tracking

    home = ProjectHome(tmp_path_factory.mktemp("mlflow-template"))
    config = resolve_tracking(home)
    MlflowClient(tracking_uri=config.tracking_uri, registry_uri=config.registry_uri).search_experiments()
    return home.root / "mlflow.db"


@pytest.fixture
def project_home(tmp_path, _mlflow_template, monkeypatch):
    """A fresh project home with an empty, ready embedded MLflow store (no shared server)."""
    from b2bscore.home import ProjectHome

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path / "home"
    root.mkdir()
    shutil.copy(_mlflow_template, root / "mlflow.db")
    return ProjectHome(root)


SMALL_TRAIN = {
    "conversion": {"min_positives": 10}, "propensity": {"min_positives": 10}, "churn": {"min_positives": 10}, "cltv": {"min_rows": 50},
    "lightgbm": {"max_rounds": 300, "early_stopping_rounds": 30},
    # a world of a few hundred accounts has a few hundred validation rows: its models beat chance, but not provably at 95%
    "candidates": {"confidence": 0.6},
}


@pytest.fixture(scope="session")
def trained_world(tmp_path_factory, _mlflow_template):
    """A small generated world and a project home whose three champions were trained on it, built once.

    Tests that change the registry must work on ``copy_home(trained_world.home)``, never on this one.
    """
    import os
    from types import SimpleNamespace

    from b2bscore.home import ProjectHome
    from b2bscore.synth import WorldConfig, generate_world
    from b2bscore.training.config import TrainConfig
    from b2bscore.training.job import train_tasks

    if os.environ.get("MLFLOW_TRACKING_URI"):
        pytest.skip("needs the embedded MLflow store (unset MLFLOW_TRACKING_URI)")
    world = tmp_path_factory.mktemp("trained-world")
    generate_world(WorldConfig(accounts=500, seed=5, months=36), world)
    home = ProjectHome(tmp_path_factory.mktemp("trained-home"))
    shutil.copy(_mlflow_template, home.root / "mlflow.db")
    results = train_tasks("all", world, config=TrainConfig.model_validate(SMALL_TRAIN), home=home)
    return SimpleNamespace(world=world, home=home, results=results)


def copy_home(source, target: Path):
    """A copy of a project home (registry and cache) that a test may change freely; artifacts stay shared."""
    from b2bscore.home import ProjectHome

    shutil.copytree(source.root, target, ignore=shutil.ignore_patterns("mlartifacts"))
    (target / "mlartifacts").symlink_to(source.root / "mlartifacts")
    return ProjectHome(target)


def _hypothesis_profiles() -> None:
    """``HYPOTHESIS_PROFILE=planted-faults`` (set by scripts/planted_faults.py): report the first failing example
    without shrinking it, so that a planted fault is reported in seconds."""
    import os

    from hypothesis import Phase, settings

    settings.register_profile("planted-faults", phases=[Phase.explicit, Phase.reuse, Phase.generate])
    if os.environ.get("HYPOTHESIS_PROFILE"):
        settings.load_profile(os.environ["HYPOTHESIS_PROFILE"])


_hypothesis_profiles()


def pytest_collection_modifyitems(config, items) -> None:
    """Each test carries the marker of its folder: ``unit`` (code on hand-made or generated frames), ``integration``
    (the CLI, MLflow, a real server), ``model`` (trained models' behaviour) or ``faults`` (kill -9, truncated files, a
    registry that goes away: fault injection against real processes), so ``-m unit`` picks a layer."""
    import pytest

    for item in items:
        folder = item.path.parent.name
        if folder in ("unit", "integration", "model", "faults"):
            item.add_marker(getattr(pytest.mark, folder))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process_group(process, timeout: float = 30) -> None:
    """SIGTERM the process group started with ``start_new_session=True``; SIGKILL it if it outlives ``timeout``."""
    import os
    import signal
    import subprocess

    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def wait_until_answering(url: str, process, log_path: Path, *, path: str = "/ready", timeout: float = 180) -> None:
    """Poll ``url + path`` until it answers 200 (a ``b2bscore serve`` starting); RuntimeError with the tail of the
    server's log at ``log_path`` if ``process`` ends first or ``timeout`` seconds pass."""
    import time

    import requests

    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the service did not start:\n" + Path(log_path).read_text(errors="replace")[-3000:])
        time.sleep(0.5)


class WebhookReceiver:
    """A tiny webhook receiver: answers the queued status codes in turn (then 200) and keeps the bodies."""

    def __init__(self, codes=()):
        self.codes = list(codes)
        self.bodies: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies.append(json.loads(body))
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
