"""``bentoml build -f serving/bentofile.yaml`` packs the service's entry point, the package sources and the pinned
packages, and nothing else of the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # bentoml build of a copy of the repository

ROOT = Path(__file__).resolve().parents[2]


def _repository_copy(target: Path) -> Path:
    """The files the build reads, plus service.py files it must leave out: one at the root, as before the
    serving/ folder, and one in code that MLflow copied into a project home inside the repository."""
    shutil.copytree(ROOT / "serving", target / "serving", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "src" / "b2bscore", target / "src" / "b2bscore", ignore=shutil.ignore_patterns("__pycache__"))
    strays = [target / "service.py", target / "b2bscore-home" / "mlartifacts" / "1" / "models" / "m-1" / "artifacts"
              / "code" / "b2bscore" / "serving" / "service.py"]
    for stray in strays:
        stray.parent.mkdir(parents=True, exist_ok=True)
        stray.write_text("raise SystemExit('this file must not be packed')\n")
    return target


def test_bentoml_build_packs_the_entry_point_the_sources_and_the_pinned_packages(tmp_path):
    checkout = _repository_copy(tmp_path / "checkout")
    env = {**os.environ, "BENTOML_HOME": str(tmp_path / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}
    bentoml = Path(sys.executable).parent / "bentoml"
    done = subprocess.run([str(bentoml), "build", "-f", "serving/bentofile.yaml", "--output", "tag"], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    bentos = [p for p in (tmp_path / "bentoml" / "bentos" / "b2bscore").iterdir() if p.name != "latest"]
    assert len(bentos) == 1
    src = bentos[0] / "src"
    packed = {p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()}
    sources = {p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src" / "b2bscore").rglob("*")
               if p.is_file() and "__pycache__" not in p.parts and (p.suffix in (".py", ".yaml") or p.name == "py.typed")}
    assert packed == {"bentofile.yaml", "serving/service.py"} | sources
    shipped = _pins((bentos[0] / "env" / "python" / "requirements.txt").read_text())
    assert shipped == _pins((ROOT / "serving" / "requirements.txt").read_text())  # BentoML repeats its own pin
    assert {"mlflow", "lightgbm", "bentoml"} <= set(shipped) and "pytest" not in shipped
    assert "score_leads" in (bentos[0] / "bento.yaml").read_text()
    # the Bento imports its own copy of the package, as its container will
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import serving.service, b2bscore; "
             "print(serving.service.ScoringService.name, b2bscore.__file__)")
    imported = subprocess.run([sys.executable, "-c", probe, str(src)], cwd=tmp_path, capture_output=True, text=True,
                              timeout=300)
    assert imported.returncode == 0, imported.stderr[-3000:]
    name, package = imported.stdout.split()
    assert name == "b2bscore" and Path(package).is_relative_to(src)


def _pins(text: str) -> dict[str, str]:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert all("==" in line for line in lines), lines
    return dict(line.split("==", 1) for line in lines)


def test_the_shipped_packages_are_pinned_to_the_constraints():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "pin_serving_requirements.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
