"""The READMEs say what is true: every Python snippet runs, every `b2bscore ...` command parses against the CLI,
every script a command runs exists.

The Python snippets run as a reader would run them: each in a fresh interpreter, in a fresh empty folder (a
document's snippets share that folder, in order), without $B2BSCORE_HOME or $MLFLOW_TRACKING_URI.
The shell commands are not run; ``doc_snippets.check_b2bscore`` parses them with the real Typer app.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from doc_snippets import b2bscore_invocations, check_b2bscore, fenced_blocks, shell_commands

ROOT = Path(__file__).resolve().parents[2]
DOCS = ["README.md", *(f"{stage}/README.md" for stage in ("features", "training", "serving", "monitoring")
                       if (ROOT / stage / "README.md").is_file())]


def _blocks(language: str) -> list[tuple[str, int, str]]:
    return [(doc, i, body) for doc in DOCS for i, body in enumerate(fenced_blocks((ROOT / doc).read_text(), language), 1)]


def test_the_readme_shows_the_python_api_and_the_commands():
    assert _blocks("python") and len([b for b in _blocks("bash") if b[0] == "README.md"]) >= 5
    assert sum(len(b2bscore_invocations(body)) for _, _, body in _blocks("bash")) >= 15  # the parser finds them


@pytest.mark.parametrize("doc,index,body", _blocks("bash"), ids=lambda v: v if isinstance(v, str) and
                         v.endswith(".md") else None)
def test_every_b2bscore_command_in_the_docs_parses(doc, index, body):
    for args in b2bscore_invocations(body):
        try:
            check_b2bscore(args)
        except Exception as exc:  # noqa: BLE001 (re-raised with the command and where it is written)
            raise AssertionError(f"{doc}, bash block {index}: `b2bscore {' '.join(args)}`: {exc}") from exc
        shipped = [value for option, value in zip(args, args[1:]) if option in ("--config", "--mapping")
                   and value.split("/")[0] in ("features", "training", "serving", "monitoring")]
        for path in shipped:  # a file the docs say ships with the project
            assert (ROOT / path).is_file(), f"{doc}, bash block {index}: {path} does not exist"


@pytest.mark.parametrize("doc", [*DOCS, "BENCHMARKS.md"])
def test_every_script_the_docs_run_exists(doc):
    for body in fenced_blocks((ROOT / doc).read_text(), "bash"):
        for words in shell_commands(body):
            if Path(words[0]).name.startswith("python"):
                scripts = [w for w in words[1:] if w.endswith(".py")]
                for script in scripts[:1]:
                    assert (ROOT / script).is_file(), f"{doc} runs {script}, which does not exist"


@pytest.mark.slow
@pytest.mark.parametrize("doc", sorted({doc for doc, _, _ in _blocks("python")}))
def test_every_python_snippet_runs(doc, tmp_path):
    """About 1.5 minutes on 2 busy cores: the README's snippet trains, segments, scores and monitors a small world."""
    env = {k: v for k, v in os.environ.items() if k not in ("B2BSCORE_HOME", "MLFLOW_TRACKING_URI")}
    for _, index, body in [b for b in _blocks("python") if b[0] == doc]:
        script = tmp_path / f"snippet_{index}.py"
        script.write_text(body)
        done = subprocess.run([sys.executable, script.name], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=900)
        assert done.returncode == 0, f"{doc}, python block {index} failed:\n{done.stderr[-4000:]}"
