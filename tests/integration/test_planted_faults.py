"""The planted-fault check (scripts/planted_faults.py): every fault in its catalogue is caught by the tests named.

The catalogue is checked first, quickly: each fault's text is found once in today's code and each test it names
exists. The full check (marked slow) plants every fault in a copy of the tree and runs its tests. It skips the
script's own run of the tests on unchanged code: this suite runs each of them unchanged in the same session.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "planted_faults.py"


def _script():
    spec = importlib.util.spec_from_file_location("planted_faults", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def test_the_catalogue_matches_todays_code_and_tests():
    faults = _script().load_faults()
    assert len(faults) >= 21
    for fault in faults:
        text = (ROOT / fault.file).read_text(encoding="utf-8")
        assert text.count(fault.find) == 1, f"{fault.name}: its text is not found exactly once in {fault.file}"
        assert fault.replace != fault.find
    ids = sorted({test for fault in faults for test in fault.tests})
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *ids],
                               cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert collected.returncode == 0, collected.stdout[-3000:] + collected.stderr[-3000:]


@pytest.mark.slow
def test_every_planted_fault_is_caught(tmp_path):
    report = tmp_path / "faults.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--jobs", "2", "--no-baseline", "--json", str(report)],
                          cwd=ROOT, capture_output=True, text=True, timeout=1500)
    outcomes = json.loads(report.read_text()) if report.exists() else []
    missed = [o for o in outcomes if o["result"] != "caught"]
    assert done.returncode == 0 and outcomes and not missed, done.stdout[-4000:] + done.stderr[-2000:]
