"""Champion/challenger registry on MLflow aliases, with an audited, undoable history of alias moves.

Every alias move is written as a tag on the model version that received the alias
(``audit.<alias>.<epoch-ms>`` = JSON with who, when, why and the previous version), so the
history lives in the registry itself (embedded or shared server) and survives any one
machine; a JSON-lines copy goes to the project home's audit log when one is given.

A new version is created tagged ``b2bscore.registration=pending`` (with the registering process and the aliases as
they were) and tagged ``done`` when its decision and alias moves are all made. A pending version whose process has
ended (killed mid-registration) is *abandoned* by the next command that looks (:func:`settle_abandoned`: a rerun of
the training job, ``b2bscore models ...``, loading a champion): the aliases it took go back to the versions that held
them, it is tagged ``abandoned`` and never counts as a challenger, and it cannot be promoted.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from b2bscore.errors import B2BScoreError, ConfigError
from b2bscore.model.tasks import MODEL_PREFIX
from b2bscore.model.tracking import OWNER_TAG, owner, owner_gone, settle_abandoned_runs

CHAMPION, CHALLENGER = "champion", "challenger"
LOWER_IS_BETTER = frozenset({"brier", "log_loss", "ece", "mae", "rmse"})
_AUDIT_PREFIX = "audit."
REGISTRATION = "b2bscore.registration"
PENDING, DONE, ABANDONED = "pending", "done", "abandoned"
_BEFORE = "b2bscore.registration.before"  # JSON: the champion and challenger versions when the registration began
REGISTRATION_MAX_AGE_S = 3600.0
"""A registration still pending after this long, by a process of another machine, is abandoned (it takes seconds)."""


class RegistryError(B2BScoreError):
    """The registry cannot do what was asked (unknown model or version, nothing to roll back to...)."""


@dataclass(frozen=True)
class PromotionPolicy:
    """A challenger becomes champion when ``metric`` beats the champion's by more than ``margin``."""

    metric: str
    margin: float = 0.0
    auto_promote: bool = True  # False: a new version stays challenger even when it wins (e.g. a drift-triggered retrain)

    @property
    def higher_is_better(self) -> bool:
        return self.metric.removeprefix("test_") not in LOWER_IS_BETTER

    def wins(self, challenger: float, champion: float) -> bool:
        if self.higher_is_better:
            return challenger > champion + self.margin
        return challenger < champion - self.margin


@dataclass(frozen=True)
class PromotionDecision:
    name: str
    version: str
    promoted: bool
    reason: str
    metric: str
    challenger_value: float
    champion_version: str | None
    champion_value: float | None


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias: who moved it, when, why, from which version to which."""

    def describe(self) -> str:
        target = f"v{self.new_version}" if self.new_version else "removed"
        source = f"v{self.previous_version}" if self.previous_version else "none"
        return f"{self.when[:19]} {self.alias} {source} -> {target} by {self.who}: {self.why}"

    name: str
    alias: str
    new_version: str | None
    previous_version: str | None
    who: str
    when: str
    why: str
    kind: str = "promote"  # promote | rollback | assign | remove | restore (an interrupted registration settled)
    key: str = ""
    undoes: str | None = None


@dataclass(frozen=True)
class ModelSummary:
    name: str
    champion: str | None
    challenger: str | None
    versions: int
    champion_metrics: dict[str, float] | None
    last_move: AliasMove | None
    abandoned: int = 0  # versions whose registration was interrupted (not counted as challengers)
    candidate: str | None = None  # what the champion is: lightgbm, baseline or blend (None: recorded before 0.3)
    baseline_metrics: dict[str, float] | None = None  # its baseline's figures on the same periods (test_, valid_)
    valid_metrics: dict[str, float] | None = None  # the champion's own on the validation period (before calibration)
    challenger_metrics: dict[str, float] | None = None  # the challenger's test metrics, as champion_metrics


_last_stamp = [0]


def _now() -> tuple[str, int]:
    """An ISO time and a strictly increasing microsecond stamp (two moves never share a tag key)."""
    us = max(time.time_ns() // 1_000, _last_stamp[0] + 1)
    _last_stamp[0] = us
    return datetime.fromtimestamp(us / 1e6, tz=timezone.utc).isoformat(timespec="milliseconds"), us


def _alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _record(client: MlflowClient, move: AliasMove, target_version: str, audit_log: Path | None) -> AliasMove:
    when, stamp = _now()
    key = f"{_AUDIT_PREFIX}{move.alias}.{stamp}"
    move = AliasMove(**{**asdict(move), "when": when, "key": key})
    client.set_model_version_tag(move.name, target_version, key, json.dumps(asdict(move), sort_keys=True))
    if audit_log is not None:
        audit_log.parent.mkdir(parents=True, exist_ok=True)
        with audit_log.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(move), sort_keys=True) + "\n")
    return move


def _move_alias(client: MlflowClient, name: str, alias: str, version: str, *, why: str, actor: str, kind: str,
                audit_log: Path | None, undoes: str | None = None) -> AliasMove:
    previous = _alias_version(client, name, alias)
    client.set_registered_model_alias(name, alias, version)
    move = AliasMove(name=name, alias=alias, new_version=version, previous_version=previous,
                     who=f"{getpass.getuser()} via {actor}", when="", why=why, kind=kind, undoes=undoes)
    return _record(client, move, version, audit_log)


def _remove_alias(client: MlflowClient, name: str, alias: str, *, why: str, actor: str, audit_log: Path | None) -> None:
    previous = _alias_version(client, name, alias)
    if previous is None:
        return
    client.delete_registered_model_alias(name, alias)
    move = AliasMove(name=name, alias=alias, new_version=None, previous_version=previous,
                     who=f"{getpass.getuser()} via {actor}", when="", why=why, kind="remove")
    _record(client, move, previous, audit_log)


def _champion_value(client: MlflowClient, name: str, champion: str, metric: str, digest: str,
                    override: float | None, note: str | None) -> tuple[float | None, str]:
    """The champion's metric on this test set: re-scored (``override``) or recorded for the same digest."""
    if override is not None:
        return override, "re-scored on this test set"
    version = client.get_model_version(name, champion)
    if version.tags.get("test_set_digest") == digest and metric in version.tags:
        return float(version.tags[metric]), "same test set"
    return None, note or "evaluated on a different test set and could not be re-scored on this one"


def register_and_decide(client: MlflowClient, *, name: str, model_uri: str, run_id: str, test_metrics: dict[str, float],
                        test_set_digest: str, policy: PromotionPolicy, champion_metric_override: float | None = None,
                        champion_note: str | None = None, extra_tags: dict[str, str] | None = None,
                        audit_log: Path | None = None, actor: str = "b2bscore train") -> PromotionDecision:
    """Register ``model_uri`` as a new version of ``name`` and decide champion or challenger.

    The new version becomes champion if there is none yet, or if it beats the champion on
    ``policy.metric`` by more than ``policy.margin`` on the same out-of-time test set; otherwise
    it is the challenger and the reason is recorded on it. If any step fails, the new version is
    deleted again, so a failed job leaves the registry as it was.
    """
    if policy.metric not in test_metrics:
        raise ConfigError(f"promotion metric {policy.metric.removeprefix('test_')!r} is not computed for {name}; "
                          f"choose one of: {', '.join(sorted(k.removeprefix('test_') for k in test_metrics))}")
    with decision_lock(audit_log):
        return _register_and_decide(client, name, model_uri, run_id, test_metrics, test_set_digest, policy,
                                    champion_metric_override, champion_note, extra_tags, audit_log, actor)


@contextmanager
def decision_lock(audit_log: Path | None) -> Iterator[None]:
    """One registry decision at a time among the jobs that share a project home (its audit log): reading the
    champion, deciding and moving the aliases is not atomic in MLflow, so two trainings of one model at once would
    both find "no champion yet" (or the same previous champion) and both promote, and a rollback would then undo
    the wrong move. An exclusive ``flock`` on ``<audit log>.lock``, held for the whole decision (training runs
    concurrently; only the registration waits). Jobs with different homes on one shared server are not serialised:
    train one model from one home at a time there. No audit log (library use): no lock."""
    if audit_log is None:
        yield
        return
    path = Path(audit_log).with_name(Path(audit_log).name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _register_and_decide(client, name, model_uri, run_id, test_metrics, test_set_digest, policy,
                         champion_metric_override, champion_note, extra_tags, audit_log, actor) -> PromotionDecision:
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description=f"b2bscore {name.removeprefix('b2bscore-')} model")
    settle_abandoned(client, name, audit_log=audit_log)
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    before = {alias: _alias_version(client, name, alias) for alias in (CHAMPION, CHALLENGER)}
    pending = {REGISTRATION: PENDING, OWNER_TAG: owner(), _BEFORE: json.dumps(before)}
    version = str(client.create_model_version(name, source=model_uri, run_id=run_id, model_id=model_id,
                                              tags=pending).version)
    try:
        for key, value in (extra_tags or {}).items():
            client.set_model_version_tag(name, version, key, value)
        decision = _decide(client, name, version, run_id, test_metrics, test_set_digest, policy,
                           (champion_metric_override, champion_note), audit_log, actor)
        client.set_model_version_tag(name, version, REGISTRATION, DONE)
        return decision
    except BaseException:
        client.delete_model_version(name, version)
        for alias, previous in before.items():
            if previous is not None:
                client.set_registered_model_alias(name, alias, previous)
        raise


def _decide(client, name, version, run_id, test_metrics, digest, policy, override, audit_log, actor) -> PromotionDecision:
    value = float(test_metrics[policy.metric])
    for key, metric in test_metrics.items():
        client.set_model_version_tag(name, version, key, repr(float(metric)))
    client.set_model_version_tag(name, version, "test_set_digest", digest)
    client.set_model_version_tag(name, version, "primary_metric", policy.metric)
    champion = _alias_version(client, name, CHAMPION)
    metric = policy.metric.removeprefix("test_")
    direction = "higher" if policy.higher_is_better else "lower"
    champion_value = None
    if champion is None:
        promoted, reason = True, f"first model of {name}: no champion yet"
    else:
        champion_value, basis = _champion_value(client, name, champion, policy.metric, digest, *override)
        if champion_value is None:
            promoted, reason = False, f"champion v{champion} was {basis}; promote by hand if wanted"
        else:
            wins = policy.wins(value, champion_value)
            promoted = wins and policy.auto_promote
            verdict = "beats" if wins else "does not beat"
            reason = (f"{metric} {value:.4f} {verdict} champion v{champion} {metric} {champion_value:.4f} "
                      f"by the required margin {policy.margin:g} ({direction} is better; {basis})")
            if wins and not policy.auto_promote:
                reason += "; automatic promotion is off for this run, so it stays challenger (promote by hand)"
    client.set_model_version_tag(name, version, "decision", CHAMPION if promoted else CHALLENGER)
    client.set_model_version_tag(name, version, "decision_reason", reason)
    client.update_model_version(name, version, description=reason)
    _move_alias(client, name, CHALLENGER, version, why=f"new version from run {run_id}", actor=actor, kind="assign",
                audit_log=audit_log)
    if promoted:
        _move_alias(client, name, CHAMPION, version, why=reason, actor=actor, kind="promote", audit_log=audit_log)
        _remove_alias(client, name, CHALLENGER, why=f"challenger v{version} won and became champion", actor=actor,
                      audit_log=audit_log)
    return PromotionDecision(name=name, version=version, promoted=promoted, reason=reason, metric=policy.metric,
                             challenger_value=value, champion_version=champion, champion_value=champion_value)


def _require_model(client: MlflowClient, name: str):
    try:
        return client.get_registered_model(name)
    except MlflowException:
        known = [m.name for m in client.search_registered_models()]
        raise RegistryError(f"no registered model {name!r}; registered: {', '.join(known) or 'none yet'}") from None


def promote(client: MlflowClient, name: str, version: str, *, reason: str = "manual promotion",
            actor: str = "b2bscore", audit_log: Path | None = None) -> AliasMove:
    """Make ``version`` the champion of ``name`` (recorded; undo with ``rollback``)."""
    with decision_lock(audit_log):
        return _promote(client, name, version, reason, actor, audit_log)


def _promote(client: MlflowClient, name: str, version: str, reason: str, actor: str,
             audit_log: Path | None) -> AliasMove:
    _require_model(client, name)
    settle_abandoned(client, name, audit_log=audit_log)
    found = {str(v.version): v for v in client.search_model_versions(f"name='{name}'")}
    versions = sorted(found, key=int)
    if str(version) not in versions:
        raise RegistryError(f"{name} has no version {version}; versions: {', '.join(versions)}")
    state = found[str(version)].tags.get(REGISTRATION)
    if state == ABANDONED:
        raise RegistryError(f"{name} version {version} cannot be promoted: its registration was abandoned "
                            f"({found[str(version)].tags.get('decision_reason', 'the job registering it was killed')}); "
                            "train again to register a complete version")
    if state == PENDING:
        raise RegistryError(f"{name} version {version} cannot be promoted yet: it is still being registered "
                            f"({found[str(version)].tags.get(OWNER_TAG, 'by another process')})")
    if _alias_version(client, name, CHAMPION) == str(version):
        raise RegistryError(f"{name} version {version} is already the champion")
    move = _move_alias(client, name, CHAMPION, str(version), why=reason, actor=actor, kind="promote", audit_log=audit_log)
    if _alias_version(client, name, CHALLENGER) == str(version):
        _remove_alias(client, name, CHALLENGER, why=f"v{version} became champion", actor=actor, audit_log=audit_log)
    return move


def alias_history(client: MlflowClient, name: str) -> list[AliasMove]:
    """Every recorded alias move of ``name``, oldest first."""
    _require_model(client, name)
    moves = []
    for version in client.search_model_versions(f"name='{name}'"):
        for key, value in version.tags.items():
            if key.startswith(_AUDIT_PREFIX):
                moves.append(AliasMove(**json.loads(value)))
    return sorted(moves, key=lambda m: (int(m.key.rsplit(".", 1)[1]), m.key))


def rollback(client: MlflowClient, name: str, *, actor: str = "b2bscore", audit_log: Path | None = None) -> AliasMove:
    """Give the champion alias back to the version that held it before the current champion's promotion.

    Rolling back again undoes the promotion before that one, like an undo stack.
    """
    with decision_lock(audit_log):
        return _rollback(client, name, actor, audit_log)


def _rollback(client: MlflowClient, name: str, actor: str, audit_log: Path | None) -> AliasMove:
    _require_model(client, name)
    settle_abandoned(client, name, audit_log=audit_log)
    current = _alias_version(client, name, CHAMPION)
    if current is None:
        raise RegistryError(f"{name} has no champion to roll back")
    history = [m for m in alias_history(client, name) if m.alias == CHAMPION]
    undone = {m.undoes for m in history if m.kind == "rollback"}
    for move in reversed(history):
        if move.kind == "promote" and move.key not in undone and move.new_version == current:
            if move.previous_version is None:
                raise RegistryError(f"{name} version {current} was the first champion: there is no earlier one to roll back to")
            return _move_alias(client, name, CHAMPION, move.previous_version, actor=actor, kind="rollback",
                               why=f"rollback of v{current} (promoted {move.when}: {move.why})", audit_log=audit_log,
                               undoes=move.key)
    raise RegistryError(f"{name}: no recorded promotion of the current champion v{current} to undo")


def list_models(client: MlflowClient, *, audit_log: Path | None = None) -> list[ModelSummary]:
    """The b2bscore models in the registry with their aliases, version counts, and champion and challenger metrics.

    Leftovers of killed jobs are settled first (:func:`settle_leftovers`), so what it lists is what a completed
    job left.
    """
    settle_leftovers(client, audit_log=audit_log)
    out = []
    for model in sorted(client.search_registered_models(filter_string=f"name LIKE '{MODEL_PREFIX}%'"), key=lambda m: m.name):
        champion = _alias_version(client, model.name, CHAMPION)
        challenger = _alias_version(client, model.name, CHALLENGER)
        metrics = baseline = valid = candidate = None
        if champion is not None:
            tags = client.get_model_version(model.name, champion).tags
            metrics = _test_metrics(tags)
            baseline = {k.removeprefix("baseline_"): float(v) for k, v in tags.items() if k.startswith("baseline_")}
            valid = {k.removeprefix("chosen_valid_"): float(v) for k, v in tags.items() if k.startswith("chosen_valid_")}
            candidate = tags.get("candidate")
        history = alias_history(client, model.name)
        versions = client.search_model_versions(f"name='{model.name}'")
        out.append(ModelSummary(
            name=model.name, champion=champion, challenger=challenger,
            challenger_metrics=(None if challenger is None
                                else _test_metrics(client.get_model_version(model.name, challenger).tags)),
            versions=len(versions), champion_metrics=metrics, last_move=history[-1] if history else None,
            abandoned=sum(v.tags.get(REGISTRATION) == ABANDONED for v in versions),
            candidate=candidate, baseline_metrics=baseline or None, valid_metrics=valid or None,
        ))
    return out


def _test_metrics(tags: dict[str, str]) -> dict[str, float]:
    """A version's test-period figures of the summary metrics, from its tags."""
    return {k.removeprefix("test_"): float(v) for k, v in tags.items()
            if k.startswith("test_") and k.removeprefix("test_") in _SUMMARY_METRICS}


def settle_leftovers(client: MlflowClient, *, audit_log: Path | None = None) -> None:
    """Settle what killed jobs left in the registry and the tracking store: runs still RUNNING (marked FAILED)
    and registrations never finished (:func:`settle_abandoned`)."""
    settle_abandoned_runs(client)
    settle_abandoned(client, audit_log=audit_log)


def settle_abandoned(client: MlflowClient, name: str | None = None, *, audit_log: Path | None = None) -> list[str]:
    """Abandon the versions of ``name`` (default: every b2bscore model) whose registration was left pending by a
    process that has ended: the champion and challenger aliases they took go back to the versions that held them
    when the registration began, the version is tagged ``abandoned`` (its decision too) and never counts as a
    challenger. Returns ``"<name> v<version>"`` of each version abandoned."""
    if name is None:
        names = [m.name for m in client.search_registered_models(filter_string=f"name LIKE '{MODEL_PREFIX}%'")]
    else:
        names = [name]
    settled = []
    for model in names:
        for version in client.search_model_versions(f"name='{model}'"):
            tags = version.tags
            if tags.get(REGISTRATION) != PENDING:
                continue
            if owner_gone(tags.get(OWNER_TAG), started_ms=version.creation_timestamp,
                          max_age_s=REGISTRATION_MAX_AGE_S):
                _abandon(client, model, str(version.version), tags, audit_log)
                settled.append(f"{model} v{version.version}")
    return settled


def _abandon(client: MlflowClient, name: str, version: str, tags: dict[str, str], audit_log: Path | None) -> None:
    """Give the aliases ``version`` took back, then tag it abandoned (in that order: a settlement that is itself
    interrupted leaves the version pending, and the next look settles it again)."""
    before = json.loads(tags.get(_BEFORE) or "{}")
    why = (f"registration abandoned: the process registering v{version} ({tags.get(OWNER_TAG, 'unknown')}) ended "
           "before it finished")
    actor = "b2bscore (settling an interrupted registration)"
    for alias in (CHAMPION, CHALLENGER):
        if _alias_version(client, name, alias) != version:
            continue
        previous = before.get(alias)
        if previous is not None and _version_exists(client, name, previous):
            undone = [m for m in alias_history(client, name)
                      if m.alias == alias and m.kind == "promote" and m.new_version == version]
            _move_alias(client, name, alias, str(previous), why=why, actor=actor,
                        kind="rollback" if undone else "restore", audit_log=audit_log,
                        undoes=undone[-1].key if undone else None)
        else:
            _remove_alias(client, name, alias, why=why, actor=actor, audit_log=audit_log)
    client.set_model_version_tag(name, version, "decision", ABANDONED)
    client.set_model_version_tag(name, version, "decision_reason", why)
    client.update_model_version(name, version, description=why)
    client.set_model_version_tag(name, version, REGISTRATION, ABANDONED)


def abandoned_alias_target(version, alias: str) -> str | None:
    """The version ``alias`` held before the interrupted registration of ``version`` moved it (None: none)."""
    previous = json.loads(version.tags.get(_BEFORE) or "{}").get(alias)
    return None if previous is None else str(previous)


def _version_exists(client: MlflowClient, name: str, version: str) -> bool:
    try:
        client.get_model_version(name, str(version))
    except MlflowException:
        return False
    return True


_SUMMARY_METRICS = ("roc_auc", "pr_auc", "brier", "ece", "spearman", "mae")
_COMPARED = {f"test_{m}" for m in ("n", "base_rate", "roc_auc", "pr_auc", "brier", "ece", "lift_top10", "capture_top10",
                                   "mae", "rmse", "spearman", "gini_normalised", "capture_top20")}


@dataclass(frozen=True)
class RunComparison:
    """The latest runs of a model side by side. Columns are labelled ``v3 (champion)`` for a run that registered a
    version (with its alias, if any), else by run-id prefix and start time. ``parameters``: only the parameters and
    tags that differ between the runs (empty when none do); ``metrics``: the test metrics."""

    parameters: pd.DataFrame
    metrics: pd.DataFrame

    @property
    def empty(self) -> bool:
        return self.metrics.empty and self.parameters.empty


def _run_labels(client: MlflowClient, model_name: str | None) -> dict[str, str]:
    """run id -> ``v3 (champion)`` for each run that registered a version of ``model_name``."""
    if model_name is None:
        return {}
    try:
        versions = client.search_model_versions(f"name='{model_name}'")
    except MlflowException:
        return {}
    aliases = {str(_alias_version(client, model_name, a)): a for a in (CHAMPION, CHALLENGER)}
    labels = {}
    for version in sorted(versions, key=lambda v: int(v.version)):
        alias = aliases.get(str(version.version))
        labels[version.run_id] = f"v{version.version}" + (f" ({alias})" if alias else "")
    return labels


def compare_runs(client: MlflowClient, experiment_name: str, last: int = 5, *,
                 model_name: str | None = None) -> RunComparison:
    """The latest ``last`` finished runs side by side: parameters that differ, then the test metrics; runs that
    registered a version of ``model_name`` are labelled by version and alias."""
    nothing = RunComparison(pd.DataFrame(), pd.DataFrame())
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return nothing
    runs = client.search_runs([experiment.experiment_id], filter_string="attributes.status = 'FINISHED'",
                              order_by=["attributes.start_time DESC"], max_results=last)
    if not runs:
        return nothing
    labels = _run_labels(client, model_name)
    parameters, metrics = {}, {}
    for run in runs:
        started = datetime.fromtimestamp(run.info.start_time / 1000, tz=timezone.utc).strftime("%m-%d %H:%M")
        label = labels.get(run.info.run_id) or f"{run.info.run_id[:8]} {started}"
        parameters[label] = {**{f"param {k}": v for k, v in run.data.params.items()},
                             **{f"tag {k}": v for k, v in run.data.tags.items() if k in ("data.digest", "b2bscore.version")}}
        metrics[label] = {k: v for k, v in run.data.metrics.items()
                          if k.removeprefix("baseline_").removeprefix("oracle_") in _COMPARED or k.startswith("lift_over")}
    params = pd.DataFrame(parameters)
    if len(params):
        params = params[params.astype(str).nunique(axis=1, dropna=False) > 1].sort_index()
    figures = pd.DataFrame(metrics)
    if len(figures):  # the model's own figures first, then its baseline's, the oracle's and the lifts
        group = ("test_", "baseline_", "oracle_", "lift_")
        figures = figures.loc[sorted(figures.index, key=lambda k: (next((i for i, g in enumerate(group)
                                                                           if k.startswith(g)), len(group)), k))]
    return RunComparison(params, figures)
