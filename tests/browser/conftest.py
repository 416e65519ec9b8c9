"""One real app and one browser session for every browser test in this folder.

The real app (``streamlit run app.py``) runs once for the package, on a free port with its own
temporary studio home; headless Chromium (Debian's) drives it through Playwright. The test files
run in name order (a person's journey: data, training, prediction, bad input) and share the app,
the browser tab and what earlier tests made (the dataset, the finished run). Each step saves a
screenshot; ``TLSTUDIO_SCREENSHOTS=docs/screenshots ./studio test -m browser`` regenerates the
README's pictures. A failing test also saves ``FAILED-<test>.png``.

Without Chromium the tests are skipped, unless TLSTUDIO_REQUIRE_BROWSER=1 makes that a failure.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from browser_support import (CHROMIUM_ARGS, Screenshots, StudioServer, chromium_executable, context_page,
                             require_playwright, screenshot_folder)
from imagegen import make_image_folder
from ui.errors import UNEXPECTED

from .steps import CLASSES, FIRST_LOAD_MS, expect


@pytest.fixture(scope="package")
def workspace(tmp_path_factory) -> Path:
    """Everything these tests write: the studio home, generated images, downloads."""
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="package")
def server(workspace, request):
    """The real app on a free port, with its own runs and data folder; stopped after the package."""
    chromium_executable()  # skip (or fail) before starting anything
    require_playwright()
    from tlcore.models.weights import weights_status

    extra_env = {}
    if weights_status("mobilenet_v2").source != "cached":  # fetch the offline weights once
        extra_env["TORCH_HOME"] = str(request.getfixturevalue("offline_torch_home"))
    with StudioServer(workspace / "home", extra_env) as studio:
        yield studio


@pytest.fixture(scope="package")
def browser():
    executable = chromium_executable()
    sync_playwright = require_playwright()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="package")
def page(browser, server):
    """One browser context and tab for the package: one Streamlit session, as one person has."""
    with context_page(browser, server.url) as tab:
        tab.goto("/")
        expect(tab.get_by_role("heading", name="Transfer Learning Studio", level=1)).to_be_visible(
            timeout=FIRST_LOAD_MS)
        yield tab


@pytest.fixture(autouse=True)
def no_error_left_on_screen(request):
    """After each test: no traceback and no "something unexpected" message anywhere on the page."""
    yield
    if "page" not in request.fixturenames:
        return
    tab = request.getfixturevalue("page")
    expect(tab.get_by_test_id("stException")).to_have_count(0)
    expect(tab.get_by_text(UNEXPECTED)).to_have_count(0)


@pytest.fixture(scope="package")
def shots(tmp_path_factory) -> Screenshots:
    return Screenshots(screenshot_folder(tmp_path_factory))


@pytest.fixture(scope="package")
def shared() -> dict:
    """What one test leaves for the next (the finished run's id)."""
    return {}


@pytest.fixture(scope="package")
def image_folder(workspace) -> Path:
    return make_image_folder(workspace / "images" / "shapes", CLASSES, size=(48, 40))
