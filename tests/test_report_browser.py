"""The report in headless Chromium (over the DevTools pipe): no console errors, no exceptions,
no network request, every figure decoded; a screenshot shows the tables and figures.
Skips with the reason when no Chromium is installed (CI installs Debian's `chromium`)."""

from __future__ import annotations

import numpy as np
import pytest

from reports import browser, html, sample

CHROMIUM = browser.find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (apt-get install -y chromium, "
                                                         "or set CHROMIUM=/path/to/chrome); the render test needs one")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    data = sample.write_sample(tmp / "data", inject="<script>console.error('injected')</script>")
    return html.write_report(data, tmp / "report.html")


def _fraction(rgb: np.ndarray, hex_colour: str, tol: int = 6) -> float:
    target = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    return float((np.abs(rgb - target).sum(-1) <= tol).mean())


def test_every_page_loads_without_errors_or_requests(report):
    for page in report:
        r = browser.inspect(page)
        assert r["console_errors"] == [] and r["exceptions"] == [] and r["log_errors"] == [], (page.name, r)
        assert r["requests"] == [], (page.name, r["requests"])
        assert r["tables"] >= 1 and r["images_loaded"] == r["images"], (page.name, r)
        if page.name != "report.html":
            assert r["images"] >= 1, page.name


def test_screenshot_shows_tables_and_figures(report, tmp_path):
    import matplotlib.image

    page = next(p for p in report if p.name == "report-gqa.html")
    r = browser.inspect(page, tmp_path / "gqa.png")
    assert r["images"] == 2 and r["images_loaded"] == 2 and r["title"] == "Ablation: gqa"
    rgb = (matplotlib.image.imread(r["screenshot"])[..., :3] * 255).round().astype(int)
    assert rgb.shape[0] > 2000 and rgb.shape[1] == 1280  # the full page, not one viewport
    assert _fraction(rgb, "#dbe7f3") > 0.01  # table header cells rendered (the stylesheet's header colour)
    assert _fraction(rgb, "#0072B2") > 2e-4 and _fraction(rgb, "#E69F00") > 2e-4  # plotted series, decoded PNGs
    assert 0.3 < _fraction(rgb, "#ffffff") < 0.95  # a page with content, not blank


def test_the_check_catches_errors_and_requests(tmp_path):
    """Control: the same inspection on a page that errs and asks the network reports both."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><title>bad</title><table><tr><td>1</td></tr></table>'
                   '<script>console.error("boom")</script><img src="http://example.invalid/x.png">')
    r = browser.inspect(bad)
    assert r["console_errors"] == ["boom"]
    assert r["requests"] == ["http://example.invalid/x.png"]
    assert r["images_loaded"] == 0
