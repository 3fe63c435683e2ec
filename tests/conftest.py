import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


import shutil  # noqa: E402

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
    "conversion": {"min_positives": 10}, "churn": {"min_positives": 10}, "cltv": {"min_rows": 50},
    "lightgbm": {"max_rounds": 300, "early_stopping_rounds": 30},
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
