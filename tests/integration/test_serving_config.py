"""The service's settings: read once, from the service arguments and the environment. ``b2bscore serve`` passes
its options as ``bentoml serve --arg``, and importing the service changes and reads nothing."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
import requests
from conftest import free_port, stop_process_group
from pydantic import SecretStr
from typer.testing import CliRunner

from b2bscore.cli import app
from b2bscore.errors import ConfigError
from b2bscore.serving import launch
from b2bscore.serving.config import ServeConfig, load_serve_config, resolve_serve_config, serve_workers
from b2bscore.serving.http import (
    ApiKeyMiddleware,
    KnownPathsMiddleware,
    ReadinessMiddleware,
    RefusedRequest,
    RequestBodyMiddleware,
    RequestDataLogFilter,
)

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


# -- the settings ----------------------------------------------------------------------------------------------
def test_the_shipped_serve_file_loads_into_the_defaults():
    assert load_serve_config(ROOT / "serving" / "serve.yaml") == ServeConfig()
    assert load_serve_config(None) == ServeConfig()


def test_arguments_beat_the_environment_and_the_key_comes_from_the_environment_only(tmp_path, monkeypatch):
    tmp_path = tmp_path.resolve()
    environ = {"B2BSCORE_HOME": str(tmp_path / "from-env"), "B2BSCORE_API_KEY": "s3cret"}
    settings = resolve_serve_config({"home": str(tmp_path / "from-args"), "max_batch": "5", "workers": "2",
                                     "refresh_seconds": "1.5"}, environ)
    assert (settings.home, settings.max_batch, settings.workers, settings.refresh_seconds) == (
        tmp_path / "from-args", 5, 2, 1.5)
    assert settings.api_key == SecretStr("s3cret")
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings)  # never logged
    assert "api_key" not in settings.service_arguments()
    assert resolve_serve_config({}, environ).home == tmp_path / "from-env"
    monkeypatch.chdir(tmp_path)
    defaults = resolve_serve_config({}, {})
    assert defaults.home == tmp_path / "b2bscore-home" and defaults.home.is_absolute()
    assert defaults.api_key is None and resolve_serve_config({}, {"B2BSCORE_API_KEY": ""}).api_key is None


def test_settings_go_through_arguments_unchanged(tmp_path):
    tmp_path = tmp_path.resolve()
    settings = ServeConfig(home=tmp_path, refresh_seconds=2.5, max_batch=7, workers=3)
    assert resolve_serve_config(settings.service_arguments(), {}) == settings


@pytest.mark.parametrize("content, needles", [
    ("max_batch: 0\n", ["serve.yaml", "max_batch", "greater than or equal to 1"]),
    ("workers: lots\n", ["serve.yaml", "workers", "integer"]),
    ("max_batches: 10\n", ["serve.yaml", "max_batches", "max_batch, max_body_mb, metrics_open, online_store, refresh_seconds, store_max_age_hours, workers"]),
    ("max_body_mb: 0\n", ["serve.yaml", "max_body_mb", "greater than 0"]),
    ("metrics_open: perhaps\n", ["serve.yaml", "metrics_open", "boolean"]),
    ("log_flush_rows: 0\n", ["serve.yaml", "log_flush_rows", "greater than or equal to 1"]),
    ("api_key: abc\n", ["serve.yaml", "api_key", "B2BSCORE_API_KEY"]),
    ("- 1\n", ["serve.yaml", "mapping"]),
])
def test_a_bad_file_names_the_file_and_the_field(tmp_path, content, needles):
    path = tmp_path / "serve.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_serve_config(path)
    assert all(needle in str(caught.value) for needle in needles), str(caught.value)


def test_bad_arguments_and_retired_variables_name_their_source():
    with pytest.raises(ConfigError, match=r"(?s)service arguments.*refresh_seconds.*0\.5"):
        resolve_serve_config({"refresh_seconds": "0.1"}, {})
    with pytest.raises(ConfigError, match=r"(?s)service arguments.*workers"):
        serve_workers({"workers": "0"})
    with pytest.raises(ConfigError, match="api_key is not accepted"):
        resolve_serve_config({"api_key": "abc"}, {})
    with pytest.raises(ConfigError, match=r"B2BSCORE_MAX_BATCH.*--arg max_batch="):
        resolve_serve_config({}, {"B2BSCORE_MAX_BATCH": "5"})


def test_a_bad_option_is_one_message_naming_it(monkeypatch):
    monkeypatch.setattr(launch.os, "execv", _refuse_exec)
    for args, needles in [(["--max-batch", "0"], ["b2bscore serve options", "max_batch", "greater than or equal to 1"]),
                          (["--refresh-seconds", "0.1"], ["b2bscore serve options", "refresh_seconds"]),
                          (["--workers", "0"], ["b2bscore serve options", "workers"])]:
        result = runner.invoke(app, ["serve", *args])
        assert result.exit_code == 2, (args, result.output)
        assert all(needle in result.output for needle in needles), (args, result.output)
        assert "Traceback" not in result.output


def _refuse_exec(*args):
    raise AssertionError(f"execv must not be reached: {args}")


# -- b2bscore serve -> bentoml serve ---------------------------------------------------------------------------
class _Exec(Exception):
    pass


_DEFAULT_EDGE_ARGS = ["--arg", "max_body_mb=10.0", "--arg", "metrics_open=False", "--arg", "log_flush_rows=5000",
                      "--arg", "log_flush_seconds=60.0", "--arg", "store_max_age_hours=36.0"]


def test_the_edge_and_log_settings_go_through_arguments(tmp_path):
    settings = ServeConfig(home=tmp_path.resolve(), max_body_mb=0.5, metrics_open=True, log_flush_rows=10,
                           log_flush_seconds=2.5)
    assert resolve_serve_config(settings.service_arguments(), {}) == settings
    assert resolve_serve_config({"metrics_open": "false"}, {}).metrics_open is False


def test_serve_passes_its_options_as_bentoml_arguments_and_leaves_the_environment_alone(tmp_path, monkeypatch):
    tmp_path = tmp_path.resolve()
    calls = []

    def fake_execv(path, argv):
        calls.append((path, argv))
        raise _Exec

    monkeypatch.setattr(launch.os, "execv", fake_execv)
    monkeypatch.setenv("B2BSCORE_API_KEY", "s3cret")
    config = tmp_path / "serve.yaml"
    config.write_text("max_batch: 50\nworkers: 4\nrefresh_seconds: 10\n")
    before = dict(os.environ)
    result = runner.invoke(app, ["serve", "--config", str(config), "--home", str(tmp_path / "home"),
                                 "--workers", "2", "--port", "3100"])
    assert isinstance(result.exception, _Exec), result.output
    assert dict(os.environ) == before  # nothing written to the environment
    path, argv = calls[0]
    assert argv[0] == path and Path(path).name == "bentoml"
    assert argv[1:] == ["serve", "b2bscore.serving.service:ScoringService", "--host", "127.0.0.1", "--port", "3100",
                        "--arg", f"home={tmp_path / 'home'}", "--arg", "refresh_seconds=10.0",
                        "--arg", "max_batch=50", "--arg", "workers=2", *_DEFAULT_EDGE_ARGS]  # options > file > defaults
    assert not any("s3cret" in part for part in argv)  # the key reaches the service through its environment


def test_serve_options_for_the_edge_and_the_log_reach_the_service(tmp_path, monkeypatch):
    """--max-body-mb, --metrics-open, --log-flush-rows and --log-flush-seconds become service arguments."""
    calls = []
    monkeypatch.setattr(launch.os, "execv", lambda path, argv: calls.append(argv) or (_ for _ in ()).throw(_Exec()))
    result = runner.invoke(app, ["serve", "--home", str(tmp_path / "home"), "--max-body-mb", "2.5", "--metrics-open",
                                 "--log-flush-rows", "100", "--log-flush-seconds", "5"])
    assert isinstance(result.exception, _Exec), result.output
    argv = calls[0]
    for argument in ("max_body_mb=2.5", "metrics_open=True", "log_flush_rows=100", "log_flush_seconds=5.0"):
        assert argv[argv.index(argument) - 1] == "--arg", (argument, argv)


def test_serve_resolves_the_home_here_and_refuses_a_retired_variable(tmp_path, monkeypatch):
    tmp_path = tmp_path.resolve()
    argv = launch.bentoml_serve_argv(ServeConfig(), host="0.0.0.0", port=3000)
    assert argv == ["bentoml", "serve", launch.SERVICE, "--host", "0.0.0.0", "--port", "3000",
                    "--arg", "refresh_seconds=30.0", "--arg", "max_batch=1000", "--arg", "workers=1", *_DEFAULT_EDGE_ARGS]
    seen = []
    monkeypatch.setattr(launch.os, "execv", lambda path, argv: seen.append(argv) or (_ for _ in ()).throw(_Exec()))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("B2BSCORE_HOME", "relative-home")
    with pytest.raises(_Exec):
        launch.serve(ServeConfig())
    assert f"home={tmp_path / 'relative-home'}" in seen[0]
    monkeypatch.setenv("B2BSCORE_WORKERS", "2")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 2 and "B2BSCORE_WORKERS" in result.output and "--arg workers=" in result.output


# -- the service module ----------------------------------------------------------------------------------------
_IMPORT_PROBE = textwrap.dedent("""
    import json, logging, os, sys

    class Spy(type(os.environ)):
        # records the B2BSCORE_* variables that b2bscore's own code reads (libraries copy the whole environment)
        read = set()
        def __getitem__(self, key):
            frame = sys._getframe(1)
            while frame.f_globals.get("__name__") in ("os", "_collections_abc", "collections.abc"):
                frame = frame.f_back
            if key.startswith("B2BSCORE") and frame.f_globals.get("__name__", "").startswith("b2bscore"):
                Spy.read.add(key)
            return super().__getitem__(key)

    e = os.environ
    os.environ = Spy(e._data, e.encodekey, e.decodekey, e.encodevalue, e.decodevalue)
    arguments = json.loads(sys.argv[1])
    if arguments:
        from bentoml._internal.utils.args import set_arguments
        set_arguments(arguments)
    from b2bscore.serving.http import RequestDataLogFilter, keep_request_data_out_of_logs
    import b2bscore.serving.service as service
    logger = logging.getLogger("bentoml._internal.server.http_app")
    filters_after_import = sum(isinstance(f, RequestDataLogFilter) for f in logger.filters)
    keep_request_data_out_of_logs(); keep_request_data_out_of_logs()
    print(json.dumps({"read": sorted(Spy.read), "filters_after_import": filters_after_import,
                      "filters_after_install": sum(isinstance(f, RequestDataLogFilter) for f in logger.filters),
                      "workers": service.ScoringService.config["workers"]}))
""")


def _probe(arguments: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "B2BSCORE_HOME": str(tmp_path / "nowhere"), "B2BSCORE_API_KEY": "k",
           "B2BSCORE_WORKERS": "not-a-number", "B2BSCORE_MAX_BATCH": "x", "B2BSCORE_REFRESH_SECONDS": "y"}
    return subprocess.run([sys.executable, "-c", _IMPORT_PROBE, json.dumps(arguments)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)


def test_importing_the_service_reads_no_environment_and_installs_nothing(tmp_path):
    done = _probe({}, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"read": [], "filters_after_import": 0, "filters_after_install": 1, "workers": 1}


def test_the_decorator_takes_workers_from_the_service_arguments(tmp_path):
    done = _probe({"workers": "2"}, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["workers"] == 2
    refused = _probe({"workers": "0"}, tmp_path)
    assert refused.returncode != 0 and "workers" in refused.stderr and "service arguments" in refused.stderr


# -- the middleware --------------------------------------------------------------------------------------------
def _call(middleware, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> int:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": headers or []}
    asyncio.run(middleware(scope, receive, send))
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


async def _ok(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def test_the_middleware_asks_for_the_key_on_each_request():
    key: list[SecretStr | None] = [None]
    middleware = ApiKeyMiddleware(_ok, api_key=lambda: key[0])
    assert _call(middleware, "/score_leads") == 200  # no key: no authentication
    key[0] = SecretStr("k")
    assert _call(middleware, "/score_leads") == 401
    assert _call(middleware, "/score_leads", [(b"authorization", b"Bearer nope")]) == 401
    assert _call(middleware, "/score_leads", [(b"authorization", b"Bearer k")]) == 200
    assert _call(middleware, "/health") == 200


def _send(middleware, path: str, *, method: str = "POST", headers: list[tuple[bytes, bytes]] | None = None,
          chunks: list[bytes] = (b"",)) -> tuple[int, bytes]:
    """(status, body) of one request through ``middleware``, its body arriving in ``chunks``."""
    sent, pending = [], list(chunks)

    async def receive():
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers or []}
    asyncio.run(middleware(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


async def _echo(scope, receive, send):
    """An app that answers 200 with the body it read (all of it, however it arrives)."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def test_an_unknown_path_is_404_before_the_request_metrics_see_it():
    seen = []

    async def metrics(scope, receive, send):  # stands for BentoML's metrics middleware: one series per path
        seen.append(scope["path"])
        await _ok(scope, receive, send)

    middleware = KnownPathsMiddleware(metrics, paths=("/score_leads", "/health"))
    assert _send(middleware, "/score_leads")[0] == 200 and _send(middleware, "/static_content/x.css")[0] == 200
    status, body = _send(middleware, "/wp-login.php", method="GET")
    assert status == 404 and b"/score_leads" in body
    assert seen == ["/score_leads", "/static_content/x.css"]


def test_metrics_need_the_key_unless_they_are_left_open():
    open_ = [False]
    middleware = ApiKeyMiddleware(_ok, api_key=lambda: SecretStr("k"), metrics_open=lambda: open_[0])
    assert _call(middleware, "/metrics") == 401
    assert _call(middleware, "/metrics", [(b"authorization", b"Bearer k")]) == 200
    open_[0] = True
    assert _call(middleware, "/metrics") == 200
    assert _call(middleware, "/score_leads") == 401  # scoring still needs it


def test_a_body_over_the_limit_is_413_declared_or_streamed_and_a_body_that_is_not_json_415():
    middleware = RequestBodyMiddleware(_echo, max_bytes=lambda: 100, json_paths=("/score_leads",))
    json_type = [(b"content-type", b"application/json; charset=utf-8")]
    assert _send(middleware, "/score_leads", headers=json_type, chunks=[b"x" * 40] * 2) == (200, b"x" * 80)
    assert _send(middleware, "/score_leads", chunks=[b"{}"]) == (200, b"{}")  # no Content-Type: JSON
    status, body = _send(middleware, "/score_leads", headers=[*json_type, (b"content-length", b"101")],
                         chunks=[b"x" * 101])
    assert status == 413 and b"max_body_mb" in body
    assert _send(middleware, "/score_leads", headers=json_type, chunks=[b"x" * 40] * 3)[0] == 413  # chunked
    assert _send(middleware, "/health", method="GET", headers=[(b"content-length", b"5000")])[0] == 413
    for content_type in (b"multipart/form-data", b"multipart/form-data; boundary=x", b"application/x-www-form-urlencoded",
                         b"application/vnd.bentoml+pickle"):
        status, body = _send(middleware, "/score_leads", headers=[(b"content-type", content_type)], chunks=[b"a=1"])
        assert status == 415 and b"application/json" in body, content_type
    assert _send(middleware, "/score_leads", headers=[(b"content-length", b"ten")])[0] == 400


def test_scoring_without_its_model_is_503_with_the_reason_logged_once(caplog):
    reason = ["no models loaded: the registry database /x/mlflow.db is missing"]
    middleware = ReadinessMiddleware(_ok, unavailable=lambda path: reason[0] if path == "/score_leads" else None)
    with caplog.at_level(logging.INFO, logger="b2bscore.serving.http"):
        for _ in range(3):
            status, body = _send(middleware, "/score_leads")
            assert status == 503 and json.loads(body) == {"error": reason[0]}
        assert _send(middleware, "/score_accounts")[0] == 200
        reason[0] = None
        assert _send(middleware, "/score_leads")[0] == 200
    assert caplog.text.count("refusing requests with 503") == 1 and caplog.text.count("scoring again") == 1


def _logged(exc: Exception) -> str:
    record = logging.LogRecord("bentoml._internal.server.http_app", logging.ERROR, __file__, 1,
                               "Exception on %s [%s]", ("/score_leads", "POST"), (type(exc), exc, None))
    RequestDataLogFilter(fields={"lead", "account_id", "employees", "account", "leads"}).filter(record)
    return record.getMessage() + (str(record.exc_info) if record.exc_info else "")


def test_refused_values_never_reach_the_log():
    from pydantic import BaseModel, model_validator

    class Lead(BaseModel):
        account_id: str
        employees: int

        @model_validator(mode="after")
        def _same(self):
            raise ValueError(f"lead.account_id {self.account_id!r} is not the record's account")

    with pytest.raises(Exception) as caught:
        Lead.model_validate({"account_id": "SECRET-ACCOUNT", "employees": 3})
    line = _logged(caught.value)
    assert "SECRET-ACCOUNT" not in line and "(body): value_error (lead.account_id" in line, line
    with pytest.raises(Exception) as caught:
        Lead.model_validate({"account_id": "A", "employees": "SECRET-MANY"})
    line = _logged(caught.value)
    assert "SECRET-MANY" not in line and "employees: int_parsing" in line, line
    line = _logged(RefusedRequest("activities[0].occurred_at 2099-01-01 is not before as_of", log_reason="fields: x"))
    assert "2099" not in line and line.endswith("fields: x"), line
    from bentoml.exceptions import BadInput
    line = _logged(BadInput("lead.account_id 'SECRET-ACCOUNT' is wrong"))
    assert "SECRET" not in line and "refused a request on /score_leads [POST]: BadInput" in line, line


# -- a real b2bscore serve --workers 2 -------------------------------------------------------------------------
def test_serve_runs_the_workers_it_is_asked_for(project_home, tmp_path):
    """``b2bscore serve --workers 2`` on an empty home: two worker processes, each given the settings as BentoML
    arguments and none through its environment."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    log = (tmp_path / "serve.log").open("w")
    cli = Path(sys.executable).parent / "b2bscore"
    process = subprocess.Popen([str(cli), "serve", "--port", str(port), "--home", str(project_home.root), "--workers", "2",
                                "--max-batch", "7"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        workers: list[psutil.Process] = []
        while len(workers) < 2 or not _alive(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the service did not start:\n" + (tmp_path / "serve.log").read_text()[-3000:])
            workers = [p for p in psutil.Process(process.pid).children(recursive=True)
                       if "_bentoml_impl.worker.service" in " ".join(p.cmdline())]
            time.sleep(0.5)
        assert len(workers) == 2
        for worker in workers:
            cmdline = worker.cmdline()
            arguments = json.loads(cmdline[cmdline.index("--args") + 1])
            assert arguments["workers"] == "2" and arguments["max_batch"] == "7"
            assert arguments["home"] == str(project_home.root)
            assert not {"B2BSCORE_WORKERS", "B2BSCORE_MAX_BATCH"} & set(worker.environ())
        assert requests.get(f"http://127.0.0.1:{port}/ready", timeout=10).status_code == 503  # no champion yet
    finally:
        stop_process_group(process)
        log.close()


def _alive(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except (requests.ConnectionError, requests.Timeout):
        return False
