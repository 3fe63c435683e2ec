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
    from b2bscore.training.tracking import resolve_tracking

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
