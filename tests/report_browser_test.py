"""The report as a person sees it: rendered by headless Chromium with the network blocked, its visible text
checked, a screenshot taken, and every request Chromium tried recorded (there must be none)."""

import os
import struct

import pytest

from tests.helpers import browser
from tests.report_test import page, run  # noqa: F401  (the fixtures: a report of a whole run)

pytestmark = pytest.mark.browser

HEADINGS = (
    "Run overview",
    "Dataset",
    "Data statistics (TFDV) and anomalies",
    "Train / eval / test skew and drift",
    "Model comparison",
    "Per-genre metrics (test split)",
    "Confusion matrices (test split)",
    "Training curves",
    "Blessing decision",
    "Push",
)


@pytest.fixture(scope="module")
def chromium():
    try:
        return browser.ensure_chromium()
    except RuntimeError as e:
        pytest.fail(str(e))


def _png_size(path: str) -> tuple[int, int]:
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def test_report_renders_offline_with_its_sections_and_numbers(page, run, chromium, tmp_path):  # noqa: F811
    screenshot = str(tmp_path / "report.png")
    rendered = browser.render_page(page["path"], screenshot, chromium)
    text = rendered.text
    for heading in HEADINGS:
        assert heading in text, heading
    assert "BLESSED" in text and "NOT BLESSED" not in text
    accuracy = f"{100 * run['trainer']['test']['accuracy']:.1f}%"
    assert f"test accuracy {accuracy}" in text
    svm = run["baselines"]["algorithms"]["svm"]["test_accuracy"]
    assert f"SVM SklearnBaselineTrainer, test split {100 * svm:.1f}%" in text
    for genre in run["config"].genres:
        assert genre in text
    assert rendered.requests == [], f"the report asked the network for {rendered.requests}"

    assert _png_size(screenshot) == (1280, 4000) and os.path.getsize(screenshot) > 100_000
    from PIL import Image

    with Image.open(screenshot) as image:
        rgb = image.convert("RGB")
        # The inline CSS applied: the dark header band, the green BLESSED badge, a page of varied content.
        assert rgb.getpixel((5, 5)) == (0x17, 0x21, 0x2E)
        greens = sum(
            1 for x in range(0, 600, 2) for y in range(40, 140, 2) if rgb.getpixel((x, y)) == (0x1B, 0x7F, 0x3B)
        )
        assert greens > 200, "no BLESSED badge in the header"
        assert len(rgb.resize((128, 400)).getcolors(maxcolors=1 << 16) or []) > 200


def test_request_log_catches_a_page_that_fetches(chromium, tmp_path):
    """The check above can fail: a page with an external image and stylesheet is caught asking for them."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><head><link rel="stylesheet" href="https://cdn.example.org/style.css"></head>'
        '<body><h1>fetching</h1><img src="http://images.example.org/logo.png"></body></html>'
    )
    rendered = browser.render_page(str(bad), str(tmp_path / "bad.png"), chromium)
    assert "fetching" in rendered.text
    assert any("cdn.example.org" in url for url in rendered.requests), rendered.requests
    assert any("images.example.org" in url for url in rendered.requests), rendered.requests


def test_a_remote_runs_report_fetched_by_make_report_renders_offline(run, chromium, tmp_path):  # noqa: F811
    """The RunReporter's artifact, found under a pipeline root and fetched as `make report RUN=<root>` does."""
    from pipeline.report import main
    from tests.report_test import _run_reporter

    root = tmp_path / "root" / "123456" / "fma-genre-20261130"
    _run_reporter(run["config"], run["outputs"], str(root / "RunReporter_42" / "report"))
    fetched = tmp_path / "fetched"
    assert main(["--set", f"output_root={tmp_path}", "--run", str(root), "--output", str(fetched)]) == 0
    rendered = browser.render_page(str(fetched / "report.html"), str(tmp_path / "remote.png"), chromium)
    for heading in HEADINGS:
        assert heading in rendered.text, heading
    assert "BLESSED" in rendered.text and "NOT BLESSED" not in rendered.text
    assert rendered.requests == [], f"the report asked the network for {rendered.requests}"
