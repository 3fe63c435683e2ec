"""Champion/challenger rules, the audit trail and rollback on a real embedded MLflow registry."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import socket
import subprocess
import time
from types import SimpleNamespace

import mlflow
import pytest

from b2bscore.errors import ConfigError
from b2bscore.home import ProjectHome
from b2bscore.model import registry as reg
from b2bscore.model.tracking import activate, ensure_experiment, resolve_tracking

NAME = "b2bscore-conversion"


@pytest.fixture(scope="module")
def store(tmp_path_factory, monkeypatch_module, _mlflow_template):
    monkeypatch_module.delenv("MLFLOW_TRACKING_URI", raising=False)
    home = ProjectHome(tmp_path_factory.mktemp("home"))
    shutil.copy(_mlflow_template, home.root / "mlflow.db")
    config = resolve_tracking(home)
    client = activate(config)
    experiment = ensure_experiment("registry-test", config)
    with mlflow.start_run(experiment_id=experiment) as run:
        mlflow.log_metric("x", 1.0)
    return client, run.info.run_id, home


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


_counter = [0]


def _register(store, value, *, digest="d1", margin=0.0, override=None, metric="test_pr_auc", name=None, audit=None,
              auto_promote=True):
    client, run_id, _ = store
    _counter[0] += 1
    return reg.register_and_decide(
        client, name=name or NAME, model_uri=f"runs:/{run_id}/model", run_id=run_id,
        test_metrics={"test_pr_auc": value, "test_brier": 1 - value}, test_set_digest=digest,
        policy=reg.PromotionPolicy(metric=metric, margin=margin, auto_promote=auto_promote),
        champion_metric_override=override, audit_log=audit,
    )


def test_policy_direction_follows_the_metric():
    assert reg.PromotionPolicy("test_pr_auc").higher_is_better
    assert not reg.PromotionPolicy("test_brier").higher_is_better
    assert reg.PromotionPolicy("test_roc_auc", margin=0.01).wins(0.72, 0.70)
    assert not reg.PromotionPolicy("test_roc_auc", margin=0.01).wins(0.705, 0.70)
    assert reg.PromotionPolicy("test_mae", margin=1.0).wins(5.0, 7.0)
    assert not reg.PromotionPolicy("test_mae", margin=1.0).wins(6.5, 7.0)


def test_first_is_champion_then_only_a_winner_by_the_margin(store):
    client = store[0]
    name = "b2bscore-rules"
    first = _register(store, 0.50, name=name)
    assert first.promoted and "no champion yet" in first.reason
    tie = _register(store, 0.505, margin=0.01, name=name)
    assert not tie.promoted
    assert "does not beat champion v1" in tie.reason and "margin 0.01" in tie.reason
    version = client.get_model_version(name, tie.version)
    assert version.tags["decision"] == "challenger" and version.tags["decision_reason"] == tie.reason
    assert str(client.get_model_version_by_alias(name, "challenger").version) == tie.version
    win = _register(store, 0.60, margin=0.01, name=name)
    assert win.promoted and win.champion_version == first.version
    assert str(client.get_model_version_by_alias(name, "champion").version) == win.version
    assert "challenger" not in client.get_registered_model(name).aliases  # the challenger won: the alias moved on


def test_without_auto_promotion_a_winner_stays_challenger(store):
    client = store[0]
    name = "b2bscore-manual"
    first = _register(store, 0.50, name=name, auto_promote=False)
    assert first.promoted  # the first model of a name is always champion
    win = _register(store, 0.70, name=name, auto_promote=False)
    assert not win.promoted and "beats champion v1" in win.reason and "stays challenger" in win.reason
    assert str(client.get_model_version_by_alias(name, "champion").version) == first.version
    assert str(client.get_model_version_by_alias(name, "challenger").version) == win.version


def test_an_exact_tie_keeps_the_champion_in_either_direction(store):
    client = store[0]
    assert not reg.PromotionPolicy("test_pr_auc").wins(0.7, 0.7) and not reg.PromotionPolicy("test_brier").wins(0.3, 0.3)
    for metric in ("test_pr_auc", "test_brier"):
        name = f"b2bscore-tie-{metric.removeprefix('test_')}"
        first = _register(store, 0.5, metric=metric, name=name)
        tie = _register(store, 0.5, metric=metric, name=name)
        assert not tie.promoted and "does not beat champion v1" in tie.reason, (metric, tie.reason)
        assert str(client.get_model_version_by_alias(name, "champion").version) == first.version
        assert str(client.get_model_version_by_alias(name, "challenger").version) == tie.version


def test_a_lower_is_better_metric_promotes_the_smaller_value(store):
    name = "b2bscore-brier"
    _register(store, 0.50, metric="test_brier", name=name)  # brier 0.5
    worse = _register(store, 0.40, metric="test_brier", name=name)  # brier 0.6
    better = _register(store, 0.70, metric="test_brier", name=name)  # brier 0.3
    assert not worse.promoted and better.promoted


def test_a_different_test_set_needs_the_champion_rescored(store):
    name = "b2bscore-digest"
    _register(store, 0.50, digest="old", name=name)
    unjudged = _register(store, 0.90, digest="new", name=name)
    assert not unjudged.promoted and "different test set" in unjudged.reason
    rescored = _register(store, 0.55, digest="new", override=0.60, name=name)
    assert not rescored.promoted and "0.6000" in rescored.reason and "re-scored" in rescored.reason


def test_unknown_metric_is_a_config_error_and_registers_nothing(store):
    client = store[0]
    name = "b2bscore-badmetric"
    with pytest.raises(ConfigError, match="'roc_auc' is not computed.*pr_auc"):
        _register(store, 0.5, metric="test_roc_auc", name=name)
    assert client.search_model_versions(f"name='{name}'") == []


def test_failed_decision_deletes_the_version_and_restores_aliases(store, monkeypatch):
    client = store[0]
    name = "b2bscore-failing"
    first = _register(store, 0.5, name=name)

    def broken(*args, **kwargs):
        raise RuntimeError("registry went away")

    monkeypatch.setattr(reg, "_move_alias", broken)
    with pytest.raises(RuntimeError):
        _register(store, 0.9, name=name)
    monkeypatch.undo()
    versions = [str(v.version) for v in client.search_model_versions(f"name='{name}'")]
    assert versions == [first.version]
    assert str(client.get_model_version_by_alias(name, "champion").version) == first.version


@pytest.mark.parametrize("failing", ["champion move", "challenger removal"])
def test_a_failure_after_the_aliases_moved_puts_them_back(store, monkeypatch, failing):
    """The winner's registration fails once an alias already points at it: both aliases return to their versions."""
    client = store[0]
    name = f"b2bscore-late-failure-{failing.split()[0]}"
    champion = _register(store, 0.5, name=name)
    challenger = _register(store, 0.4, name=name)
    move, remove = reg._move_alias, reg._remove_alias

    def move_then_fail(client, name, alias, *args, **kwargs):
        result = move(client, name, alias, *args, **kwargs)
        if alias == "champion":
            raise RuntimeError("registry went away after the champion moved")
        return result

    def fail(*args, **kwargs):
        raise RuntimeError("registry went away before the old challenger alias was removed")

    if failing == "champion move":
        monkeypatch.setattr(reg, "_move_alias", move_then_fail)
    else:
        monkeypatch.setattr(reg, "_remove_alias", fail)
    with pytest.raises(RuntimeError, match="registry went away"):
        _register(store, 0.9, name=name)
    monkeypatch.setattr(reg, "_move_alias", move)
    monkeypatch.setattr(reg, "_remove_alias", remove)
    assert sorted(str(v.version) for v in client.search_model_versions(f"name='{name}'")) == [champion.version,
                                                                                             challenger.version]
    assert {a: str(v) for a, v in client.get_registered_model(name).aliases.items()} == {
        "champion": champion.version, "challenger": challenger.version}


def test_promote_rollback_and_the_audit_trail(store, tmp_path):
    client = store[0]
    name = "b2bscore-audit"
    audit = tmp_path / "audit.jsonl"
    v1 = _register(store, 0.5, name=name, audit=audit)
    v2 = _register(store, 0.6, name=name, audit=audit)
    v3 = _register(store, 0.55, name=name, audit=audit)  # stays challenger
    assert v2.promoted and not v3.promoted
    move = reg.promote(client, name, v3.version, reason="business asked", actor="test", audit_log=audit)
    assert (move.previous_version, move.new_version, move.why) == (v2.version, v3.version, "business asked")
    assert "test" in move.who

    back = reg.rollback(client, name, actor="test", audit_log=audit)
    assert (back.previous_version, back.new_version) == (v3.version, v2.version)
    again = reg.rollback(client, name, actor="test", audit_log=audit)  # an undo stack: v2's promotion is undone
    assert again.new_version == v1.version
    with pytest.raises(reg.RegistryError, match="first champion"):
        reg.rollback(client, name, actor="test", audit_log=audit)

    champion_moves = [m for m in reg.alias_history(client, name) if m.alias == "champion"]
    assert [(m.kind, m.previous_version, m.new_version) for m in champion_moves] == [
        ("promote", None, v1.version), ("promote", v1.version, v2.version), ("promote", v2.version, v3.version),
        ("rollback", v3.version, v2.version), ("rollback", v2.version, v1.version),
    ]
    logged = [json.loads(line) for line in audit.read_text().splitlines()]
    assert len(logged) == len(reg.alias_history(client, name))
    assert all(entry["who"] and entry["when"] and entry["why"] for entry in logged)


def test_promote_rejects_unknown_model_and_version(store):
    client = store[0]
    _register(store, 0.5, name="b2bscore-known")
    with pytest.raises(reg.RegistryError, match="no registered model 'b2bscore-nope'"):
        reg.promote(client, "b2bscore-nope", "1")
    with pytest.raises(reg.RegistryError, match="has no version 9; versions: 1"):
        reg.promote(client, "b2bscore-known", "9")
    with pytest.raises(reg.RegistryError, match="already the champion"):
        reg.promote(client, "b2bscore-known", "1")


def test_list_models_summarises_aliases(store):
    client = store[0]
    _register(store, 0.5, name="b2bscore-listed")
    _register(store, 0.4, name="b2bscore-listed")
    summary = {s.name: s for s in reg.list_models(client)}["b2bscore-listed"]
    assert (summary.champion, summary.challenger, summary.versions) == ("1", "2", 2)
    assert summary.champion_metrics["pr_auc"] == pytest.approx(0.5)
    assert summary.last_move.alias == "challenger" and summary.last_move.new_version == "2"


def test_activating_one_home_does_not_leak_into_the_next(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    first = resolve_tracking(ProjectHome(tmp_path / "a"))
    activate(first)
    second = resolve_tracking(ProjectHome(tmp_path / "b"))
    assert second.embedded and str(tmp_path / "b") in second.tracking_uri and second.registry_uri == second.tracking_uri


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def _killed_registration(store, name, *, before, owner_pid, aliases=("champion", "challenger")):
    """What ``b2bscore train`` killed (kill -9) after it moved ``aliases`` to its new version leaves behind."""
    client, run_id, _ = store
    version = client.create_model_version(name, source=f"runs:/{run_id}/model", run_id=run_id, tags={
        "b2bscore.registration": "pending", "b2bscore.owner": f"{socket.gethostname()} {owner_pid} 2026-01-01T00:00:00",
        "b2bscore.registration.before": json.dumps(before), "decision": "champion"}).version
    for alias in aliases:
        client.set_registered_model_alias(name, alias, version)
    return str(version)


def test_a_registration_killed_after_moving_the_aliases_is_settled_by_models_list(store):
    client, _, _ = store
    name = "b2bscore-killed-registration"
    first = _register(store, 0.5, name=name)
    killed = _killed_registration(store, name, before={"champion": first.version, "challenger": None},
                                  owner_pid=_dead_pid())
    listed = {s.name: s for s in reg.list_models(client)}[name]
    assert (listed.champion, listed.challenger) == (first.version, None)  # as before the killed registration
    assert listed.abandoned == 1
    tags = client.get_model_version(name, killed).tags
    assert tags["b2bscore.registration"] == "abandoned" and tags["decision"] == "abandoned"
    with pytest.raises(reg.RegistryError, match="abandoned"):
        reg.promote(client, name, killed)
    assert client.get_model_version(name, first.version).tags["b2bscore.registration"] == "done"
    later = _register(store, 0.9, name=name)  # the next registration is normal, and undoable back to the first
    assert later.promoted and reg.rollback(client, name).new_version == first.version


def test_a_registration_still_running_is_left_alone(store):
    client, _, _ = store
    name = "b2bscore-live-registration"
    first = _register(store, 0.5, name=name)
    live = _killed_registration(store, name, before={"champion": first.version, "challenger": None},
                                owner_pid=os.getpid(), aliases=("challenger",))
    assert reg.settle_abandoned(client, name) == []
    assert client.get_model_version(name, live).tags["b2bscore.registration"] == "pending"
    with pytest.raises(reg.RegistryError, match="still being registered"):
        reg.promote(client, name, live)


@pytest.mark.parametrize("registry_writable", [True, False], ids=["settles", "read-only registry"])
def test_loading_the_champion_never_loads_an_interrupted_registration(store, monkeypatch, registry_writable):
    """The service and the jobs load ``@champion``: after a registration killed once it moved the alias, they load
    the champion from before (settling the leftover when the registry lets them)."""
    from mlflow.exceptions import MlflowException

    from b2bscore.model import champions

    client, _, _ = store
    task = "cltv" if registry_writable else "churn"
    name = f"b2bscore-{task}"
    first = _register(store, 0.5, name=name)
    killed = _killed_registration(store, name, before={"champion": first.version, "challenger": None},
                                  owner_pid=_dead_pid(), aliases=("champion",))
    loaded = []
    monkeypatch.setattr(importlib.import_module("mlflow.pyfunc"), "load_model",
                        lambda uri: loaded.append(uri) or SimpleNamespace(unwrap_python_model=lambda: SimpleNamespace(model=None)))
    if not registry_writable:
        def refused(*args, **kwargs):
            raise MlflowException("read-only registry")

        monkeypatch.setattr(client, "set_registered_model_alias", refused)
        monkeypatch.setattr(client, "delete_registered_model_alias", refused)
    champion = champions.load_champion(client, task)
    assert champion.version == first.version and loaded == [f"models:/{name}/{first.version}"]
    settled = client.get_model_version(name, killed).tags["b2bscore.registration"]
    assert settled == ("abandoned" if registry_writable else "pending")


def test_two_jobs_registering_one_model_at_once_decide_one_after_the_other(store, tmp_path, monkeypatch):
    """Reading the champion, deciding and moving the aliases is not atomic in MLflow: two trainings of one model
    registering at once both found "no champion yet" and both promoted (the audit log then held two first
    promotions, and a rollback undid the wrong one). Jobs sharing a home decide one after the other."""
    import threading

    audit = tmp_path / "registry-audit.jsonl"
    name = "b2bscore-race"
    read = reg._alias_version

    def slow_read(client, model, alias):  # widen the window between reading the champion and moving it
        value = read(client, model, alias)
        time.sleep(0.3)
        return value

    monkeypatch.setattr(reg, "_alias_version", slow_read)
    decisions, errors = [], []

    def job(value):
        try:
            decisions.append(_register(store, value, name=name, audit=audit))
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(v,)) for v in (0.30, 0.40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    first = [d for d in decisions if d.champion_version is None]
    assert len(first) == 1, [d.reason for d in decisions]  # only one found no champion
    promotions = [json.loads(line) for line in audit.read_text().splitlines()]
    promotions = [m for m in promotions if m["alias"] == "champion" and m["kind"] == "promote"]
    assert [m["previous_version"] for m in promotions][:1] == [None]
    assert all(m["previous_version"] is not None for m in promotions[1:])
    client = store[0]
    champion = reg._alias_version(client, name, "champion")
    assert champion == promotions[-1]["new_version"]
