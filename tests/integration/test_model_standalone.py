"""The registered model stands on its own: a fresh virtual environment made from the model's own dependencies --
without b2bscore installed -- loads the champion with MLflow's client and scores the README's record exactly like
the environment that trained it (the package's code travels inside the model, MLflow's ``code_paths``)."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import venv
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from b2bscore.model.tracking import activate, resolve_tracking

pytestmark = pytest.mark.slow  # a virtual environment with MLflow, LightGBM and scikit-learn installed (1-3 minutes)

README = Path(__file__).resolve().parents[2] / "README.md"
SCORE = """
import json, sys
import mlflow, pandas as pd
try:
    import b2bscore  # noqa: F401
    print("b2bscore is installed here"); sys.exit(3)
except ImportError:
    pass
model = mlflow.pyfunc.load_model(sys.argv[1])
frame = pd.read_json(sys.argv[2], orient="split", dtype=False)
print(model.predict(frame).to_json(orient="split", date_format="iso", double_precision=15))
"""


def _readme_record() -> dict:
    """The lead record the README's quick start sends to /score_leads."""
    text = README.read_text()
    body = re.search(r"score_leads -H 'Content-Type: application/json' -d '(\{.*?\})'\n", text, re.S)
    assert body, "the README's score_leads example"
    return json.loads(body.group(1))["leads"][0]


def test_a_champion_loads_and_scores_in_an_environment_made_from_its_own_dependencies(trained_world, tmp_path):
    activate(resolve_tracking(trained_world.home))
    uri = "models:/b2bscore-conversion@champion"
    requirements = Path(mlflow.pyfunc.get_model_dependencies(uri))
    assert "b2bscore" not in requirements.read_text()  # the code travels with the model, not as a package
    env = tmp_path / "env"
    venv.EnvBuilder(with_pip=True).create(env)
    python = env / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(requirements)],
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-3000:]

    record = _readme_record()
    columns = ("account", "lead", "technographics", "activities", "intent", "leads", "opportunities", "revenue")
    records = pd.DataFrame([{"as_of": record["as_of"],  # the pyfunc's input: one JSON column per field
                             **{c: json.dumps(record.get(c, None if c in ("account", "lead") else [])) for c in columns}}])
    here = mlflow.pyfunc.load_model(uri).predict(records)
    (tmp_path / "records.json").write_text(records.to_json(orient="split"))
    (tmp_path / "score.py").write_text(SCORE)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    environ["MLFLOW_TRACKING_URI"] = mlflow.get_tracking_uri()
    run = subprocess.run([str(python), str(tmp_path / "score.py"), uri, str(tmp_path / "records.json")],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path, env=environ)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    there = pd.read_json(io.StringIO(run.stdout.strip().splitlines()[-1]), orient="split")
    assert there["lead_id"].tolist() == here["lead_id"].tolist() == ["L1"]
    assert there["probability"].iloc[0] == pytest.approx(here["probability"].iloc[0], abs=1e-12)
    assert there["score"].iloc[0] == here["score"].iloc[0] and there["grade"].iloc[0] == here["grade"].iloc[0]
    assert 0 < there["probability"].iloc[0] < 1
