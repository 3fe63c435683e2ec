"""`bentoml build` turns the repository into a Bento holding the service and the package sources."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bentoml_build_packages_the_service(tmp_path):
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}
    bentoml = Path(sys.executable).parent / "bentoml"
    done = subprocess.run([str(bentoml), "build", "--output", "tag"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    bentos = [p for p in (tmp_path / "bentoml" / "bentos" / "b2bscore").iterdir() if p.name != "latest"]
    assert len(bentos) == 1
    src = bentos[0] / "src"
    assert (src / "service.py").is_file() and (src / "src" / "b2bscore" / "serving" / "service.py").is_file()
    requirements = (bentos[0] / "env" / "python" / "requirements.txt").read_text()
    assert "mlflow>=3.10" in requirements and "lightgbm" in requirements
    assert "score_leads" in (bentos[0] / "bento.yaml").read_text()
