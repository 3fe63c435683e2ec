"""The HTML pages ops and sales open, rendered in a real browser: headless Chromium at 1,280 px.

Each page is loaded from its own folder (so relative chart files resolve) with a small script appended that, once
the page has loaded, writes what the browser measured into the DOM; ``--dump-dom`` returns it. Nothing may be wider
than the window and every chart ``<img>`` must have loaded (``naturalWidth > 0``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from b2bscore import api
from b2bscore.home import ProjectHome
from b2bscore.monitoring.config import MonitorConfig
from b2bscore.monitoring.report import write_summary
from b2bscore.monitoring.result import Finding, MonitorResult, SegmentResult, TaskCheck
from b2bscore.synth import WorldConfig, generate_world

WIDTH = 1280
_PROBE = """<script>
window.addEventListener('load', () => {
  const root = document.documentElement;
  const wide = [...document.body.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1))
    .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' ' +
                          Math.round(e.getBoundingClientRect().right) + 'px');
  const out = {innerWidth: window.innerWidth, scrollWidth: root.scrollWidth, widest: wide,
               images: [...document.images].map(i => ({src: (i.getAttribute('src') || '').slice(0, 60),
                                                       loaded: i.complete && i.naturalWidth > 0}))};
  const pre = document.createElement('pre');
  pre.id = 'b2bscore-browser-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium on this machine: install Debian's `chromium` package (.ci/run does when it can) to "
                "check the pages in a real browser")


def measure(page: Path) -> dict:
    """Load ``page`` in headless Chromium at ``WIDTH`` px and return what the probe measured."""
    probe = page.with_name(page.stem + ".browser-check.html")
    text = page.read_text(encoding="utf-8")
    probe.write_text(text.replace("</body>", _PROBE + "</body>") if "</body>" in text else text + _PROBE,
                     encoding="utf-8")
    try:
        done = subprocess.run([_chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
                               f"--window-size={WIDTH},2000", "--run-all-compositor-stages-before-draw",
                               "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                              capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink()
    found = re.search(r'<pre id="b2bscore-browser-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the probe did not run in {page} (exit {done.returncode}): {done.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                      .replace("&amp;", "&"))


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    """A small world, its churn model, a segmentation and a monitoring check: the two summary pages."""
    _chromium()
    world = tmp_path_factory.mktemp("browser-world")
    generate_world(WorldConfig(accounts=500, seed=5, months=36), world)
    home = ProjectHome(tmp_path_factory.mktemp("browser-home"))
    api.train("churn", world, home=home, config={"churn": {"min_positives": 10}, "candidates": {"confidence": 0.6},
                                                  "lightgbm": {"max_rounds": 100, "early_stopping_rounds": 20}})
    segmented = api.segment(world, home=home, config={"clustering": {"k_max": 3, "n_init": 1}})
    checked = api.monitor(world, home=home, config={"tasks": ["churn"]}, dry_run=True)
    return {"segments": Path(segmented.summary_path), "monitoring": checked.folder / "summary.html"}


@pytest.mark.slow  # trains a model, segments and checks a small world first (about 3 minutes)
@pytest.mark.parametrize("name", ["monitoring", "segments"])
def test_the_summary_page_fits_1280_px_and_every_chart_loads(pages, name):
    found = measure(pages[name])
    assert found["innerWidth"] == WIDTH, found
    assert found["scrollWidth"] <= WIDTH, f"{name} page is {found['scrollWidth']} px wide: {found['widest']}"
    missing = [i["src"] for i in found["images"] if not i["loaded"]]
    assert not missing, f"{name} page: charts without an image: {missing}"


def test_the_probe_sees_an_overflow_and_a_broken_chart(tmp_path):
    """The check itself can fail: a table wider than the window and an image that does not load are both seen."""
    _chromium()
    page = tmp_path / "bad.html"
    page.write_text("<html><body><table style='width:1530px'><tr><td>KPI</td></tr></table>"
                    "<img src='missing.png'><img src='data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFc"
                    "SJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=='></body></html>")
    found = measure(page)
    assert found["scrollWidth"] > WIDTH and found["widest"], found
    assert [i["loaded"] for i in found["images"]] == [False, True]


def test_a_monitoring_page_with_long_names_and_findings_still_fits(tmp_path):
    """Long segment names, findings and notes wrap instead of widening the page (they made it 1,752 px wide)."""
    _chromium()
    finding = "share of the accounts scored went from 36.5% to 3.9% (x0.11, z -6.8); " * 3
    segments = tuple(SegmentResult("cluster_name", "a_long_data_driven_cluster_name_" * 3 + str(i), 1200, 310, 0, (),
                                   None, None, "alert", (Finding("segment_share", "alert", finding),), ("x" * 150,))
                     for i in range(3))
    check = TaskCheck("conversion", "classification", "b2bscore-conversion", "3", None, "log", None,
                      pd.Timestamp("2026-01-01"), ("a_feature_name_" * 10,), segments,
                      notes=("/srv/b2bscore/b2bscore-home/monitoring/runs/20260102T061500Z/" * 4,))
    result = MonitorResult(as_of=pd.Timestamp("2026-01-01"), checked_at=pd.Timestamp("2026-01-02"),
                           config=MonitorConfig(), tasks=(check,))
    _, page = write_summary(result, tmp_path)
    found = measure(page)
    assert found["scrollWidth"] <= WIDTH, f"the page is {found['scrollWidth']} px wide: {found['widest']}"
