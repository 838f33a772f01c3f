"""The web page in a real browser: Playwright drives the system chromium (never a downloaded one) against the server."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.integration._serve_helpers import image_bytes, make_model_dir, running_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TOKEN = "browser-test-token"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="no chromium on PATH: install the distribution's (apt-get install chromium)"
    ),
]


def test_page_predicts_an_uploaded_jpeg_and_lays_the_heat_map_over_it(tmp_path: Path) -> None:
    model = make_model_dir(tmp_path / "melanoma_model")
    photo = tmp_path / "lesion.jpg"
    photo.write_bytes(image_bytes(size=(160, 120), seed=4))
    expect.set_options(timeout=60_000)
    with (
        running_server(model, tmp_path / "server.log", "--token", TOKEN) as (url, _),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{url}/")
            expect(page.locator("#model")).to_contain_text("melanoma_model")
            expect(page.locator("#token")).to_be_visible()  # the server asks for a token: the page offers the field
            page.fill("#token", TOKEN)
            page.set_input_files("#file", str(photo))
            expect(page.locator("#label")).to_have_text(re.compile(r"^(benign|malignant)$"))
            expect(page.locator(".bar")).to_have_count(2)
            expect(page.locator(".bar .mark")).to_have_count(1)  # the operating point on the positive class's bar
            expect(page.locator("#flag")).to_have_text(re.compile(r"^(Flagged: malignant|Not flagged)$"))
            expect(page.locator("#rule")).to_contain_text("0.300")
            toggle = page.locator("#cam-toggle")
            expect(toggle).to_be_enabled()
            toggle.check()
            heat = page.locator("#heatmap")
            expect(heat).to_be_visible()
            assert heat.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [160, 120]
            expect(page.locator("#cam-note")).to_contain_text("layer4")
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
            toggle.uncheck()
            expect(heat).to_be_hidden()
        finally:
            browser.close()
    assert (tmp_path / "page.png").stat().st_size > 5000
