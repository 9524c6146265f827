"""report.html in a real browser: headless Chromium renders it to a screenshot that is not blank,
prints it to PDF, logs no console message, and requests nothing beyond the file (its network log
is read; every host name is made unresolvable as well)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from gatecast.data import load
from gatecast.experiment.report import REPORT_FILE
from gatecast.experiment.training import TrainJob, run_training

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed; on Debian or Ubuntu: apt-get install chromium",
)
# What Chromium writes to stderr (--enable-logging=stderr) when a page misbehaves.
PAGE_ERRORS = ("Uncaught", ":CONSOLE", "Failed to load resource")


def chromium(page: Path, tmp: Path, *action: str) -> tuple[str, list[str]]:
    """Run headless Chromium on ``page`` with ``action`` (e.g. ``--screenshot=...``): its log,
    and the URLs the page requested (the browser's own update checks left out)."""
    assert CHROMIUM is not None
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # CI runs as root, where Chromium refuses its sandbox
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing outside this machine
        f"--user-data-dir={tmp / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        f"--log-net-log={tmp / 'net.json'}",
        "--window-size=1280,2000",
        *action,
        page.as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stderr, page_requests(tmp / "net.json")


def page_requests(netlog: Path) -> list[str]:
    """URLs of the requests a file:// page made (Chromium's own have no file:// site)."""
    log = json.loads(netlog.read_text(encoding="utf-8"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        e["params"]["url"]
        for e in log["events"]
        if e["type"] == start
        and "file://" in str(e["params"].get("site_for_cookies", ""))
        and not e["params"]["url"].startswith(("file:", "data:"))
    ]


def page_errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if any(e in line for e in PAGE_ERRORS)]


def screenshot(page: Path, tmp: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """The first screen (1280 x 2000) in grey levels 0..1, the errors logged, the requests."""
    png = tmp / "shot.png"
    log, requests = chromium(page, tmp, f"--screenshot={png}")
    grey = image.imread(png)[..., :3].mean(axis=-1)
    return grey, page_errors(log), requests


@pytest.fixture(scope="module")
def train_report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    data = root / "prices.csv"
    load("sp500").loc["2017":"2018", ["close", "adj_close"]].to_csv(data, index_label="date")
    job = TrainJob(
        data=str(data),
        epochs=1,
        hidden=4,
        layers=1,
        window=10,
        test_start="2018-09-04",
        seed=0,
        device="cpu",
        quiet=True,
    )
    run_training(job, root / "run")
    return root / "run" / REPORT_FILE


def test_the_report_renders_in_chromium_with_no_error(train_report, tmp_path) -> None:
    grey, errors, requests = screenshot(train_report, tmp_path)
    assert grey.shape == (2000, 1280)
    assert errors == []
    assert requests == []
    inked = (grey < 0.9).mean()  # text, tables and figures on a white page
    assert 0.02 < inked < 0.6, f"{inked:.1%} of the screenshot is not white"
    assert grey.std() > 0.1
    rows = (grey < 0.9).mean(axis=1)
    assert (rows[1000:] > 0).mean() > 0.3, "the lower half of the first screen is empty"


def test_the_report_prints_to_pdf(train_report, tmp_path) -> None:
    pdf = tmp_path / "report.pdf"
    log, requests = chromium(
        train_report, tmp_path, f"--print-to-pdf={pdf}", "--no-pdf-header-footer"
    )
    assert page_errors(log) == [] and requests == []
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", data))
    assert pages >= 2, f"{pages} page(s): the report's figures should run over several pages"


def test_the_check_catches_a_page_that_fails(tmp_path) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><body><p>x</p>"
        '<img src="http://example.invalid/a.png" alt="a">'
        "<script>undefined_function()</script></body></html>"
    )
    grey, errors, requests = screenshot(bad, tmp_path)
    assert any("Uncaught" in e for e in errors), errors
    assert requests == ["http://example.invalid/a.png"]
    assert (grey < 0.9).mean() < 0.01  # and a near-empty page is seen as such
