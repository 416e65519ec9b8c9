"""Helpers for the real-browser tests: start the app, find Chromium, drive Streamlit, take screenshots.

The app runs as ``streamlit run app.py`` in a subprocess with its own TLSTUDIO_HOME (runs, data and
caches in a temporary folder); Chromium is Debian's, driven by Playwright's Python package.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tlcore import runs
from tlcore.runs.supervision.runner import kill_worker

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_BROWSER_ENV = "TLSTUDIO_REQUIRE_BROWSER"
SCREENSHOTS_ENV = "TLSTUDIO_SCREENSHOTS"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
HEALTH_TIMEOUT_S = 60.0
VIEWPORT = {"width": 1400, "height": 1000}
MAX_SCREENSHOT_HEIGHT = 4000

# Streamlit's own test ids (stable across 1.x releases).
UPLOADER = '[data-testid="stFileUploader"]'
PLOTLY = '[data-testid="stPlotlyChart"]'
PROGRESS = '[data-testid="stProgress"]'
APP_RUNNING = '[data-testid="stApp"][data-test-script-state="running"]'


# -- Chromium --------------------------------------------------------------------------------------

def chromium_executable() -> str:
    """Debian's Chromium, or skip (fail when TLSTUDIO_REQUIRE_BROWSER=1) where there is none."""
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    message = ("Chromium is required for the browser tests (apt-get install chromium); "
               "none was found at /usr/bin/chromium or on PATH.")
    if os.environ.get(REQUIRE_BROWSER_ENV) == "1":
        pytest.fail(message + f" ({REQUIRE_BROWSER_ENV}=1 makes this a failure.)", pytrace=False)
    pytest.skip(message)


def require_playwright():
    """Playwright's sync API, or skip/fail like a missing Chromium."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        message = "The playwright Python package is required for the browser tests (requirements-dev.txt)."
        if os.environ.get(REQUIRE_BROWSER_ENV) == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return sync_playwright


# -- the app server --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StudioServer:
    """``streamlit run app.py`` on a free port with its own studio home; a context manager."""

    def __init__(self, home: Path, extra_env: dict[str, str] | None = None, extra_args: list[str] = ()):
        self.home = Path(home)
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.home.parent / f"streamlit-{self.port}.log"
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "StudioServer":
        self.home.mkdir(parents=True, exist_ok=True)
        # The app as a person gets it: a warm worker (the test suite turns it off for engine tests).
        env = dict(os.environ, TLSTUDIO_HOME=str(self.home), PYTHONUNBUFFERED="1", TLSTUDIO_WARM_WORKER="1",
                   **self.extra_env)
        command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                   "--server.port", str(self.port), "--server.address", "127.0.0.1",
                   "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none", *self.extra_args]
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            self._wait_healthy()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as answer:
                    if answer.read().decode().strip() == "ok":
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"streamlit did not answer /_stcore/health within {HEALTH_TIMEOUT_S:.0f} s:\n"
                           f"{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __exit__(self, *exc) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # its own session: streamlit and nothing else
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()
        kill_leftover_workers(self.home / "runs")

    # -- what the app wrote --------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    def run_statuses(self) -> dict[str, dict]:
        """run id -> status.json of every run folder."""
        statuses = {}
        for status_file in sorted(self.runs_dir.glob("*/status.json")):
            try:
                statuses[status_file.parent.name] = json.loads(status_file.read_text())
            except (OSError, ValueError):
                pass  # being rewritten right now
        return statuses


def kill_leftover_workers(runs_dir: Path) -> None:
    """Training workers outlive the server by design; stop the ones this test's runs started."""
    for summary in runs.list_runs(runs_dir):
        if summary.state == "running":
            kill_worker(summary.status.get("pid"), summary.run_dir)  # only that run's worker, never a reused PID


# -- screenshots -----------------------------------------------------------------------------------

class Screenshots:
    """Full-page PNGs of each step, in TLSTUDIO_SCREENSHOTS or a pytest temporary folder."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []
        self.seconds = 0.0  # spent taking pictures

    def take(self, page, name: str, settled: bool = True) -> Path:
        """Save the whole page body: the window grows to the content's height for the picture.

        Streamlit scrolls inside its own container, so Playwright's full_page would cut it off.
        settled=False takes the picture at once, without waiting for script runs to end (a live view).
        """
        path = self.folder / (name if name.endswith(".png") else f"{name}.png")
        started = time.monotonic()
        page.mouse.move(1, 1)  # no hover effects (plotly's toolbar, tooltips) in the picture
        if settled:
            settle(page)
        viewport = page.viewport_size
        height = page.evaluate("""() => {
            const main = document.querySelector('[data-testid="stMain"]');
            const side = document.querySelector('[data-testid="stSidebarContent"]');
            return Math.max(main ? main.scrollHeight : 0, side ? side.scrollHeight : 0);
        }""")
        height = min(max(int(height), viewport["height"]), MAX_SCREENSHOT_HEIGHT)
        try:
            if height > viewport["height"]:
                page.set_viewport_size({"width": viewport["width"], "height": height})
                page.wait_for_timeout(300)  # one layout pass for the charts at the new height
            page.screenshot(path=str(path), animations="disabled")
        finally:
            if page.viewport_size != viewport:
                page.set_viewport_size(viewport)
        self.taken.append(path)
        self.seconds += time.monotonic() - started
        return path


def screenshot_folder(tmp_path_factory) -> Path:
    configured = os.environ.get(SCREENSHOTS_ENV)
    if configured:
        folder = Path(configured)
        return folder if folder.is_absolute() else ROOT / folder
    return tmp_path_factory.mktemp("screenshots")


def screenshot_on_failure(test):
    """Decorate a test taking ``page`` and ``shots``: a failure also saves FAILED-<test>.png
    (and prints the end of the app's log when the test takes ``server``)."""
    @functools.wraps(test)
    def wrapper(*args, **kwargs):
        try:
            return test(*args, **kwargs)
        except BaseException as error:
            page, shots = kwargs.get("page"), kwargs.get("shots")
            if page is not None and shots is not None and not isinstance(error, pytest.skip.Exception):
                try:
                    page.screenshot(path=str(shots.folder / f"FAILED-{test.__name__}.png"), full_page=True)
                except Exception as error:  # the page may be gone; the test's own error matters more
                    print(f"could not save the failure screenshot: {error}", file=sys.stderr)
            server = kwargs.get("server")
            if server is not None and not isinstance(error, pytest.skip.Exception):
                print(f"--- streamlit's log (last lines) ---\n{server.log_tail()}", file=sys.stderr)
            raise
    return wrapper


# -- driving Streamlit -----------------------------------------------------------------------------

def settle(page, timeout: float = 30_000) -> None:
    """Wait until Streamlit has no script run in progress (fragments included) and no spinner."""
    from playwright.sync_api import expect

    expect(page.locator(APP_RUNNING)).to_have_count(0, timeout=timeout)
    expect(page.locator('[data-testid="stSpinner"]')).to_have_count(0, timeout=timeout)
    expect(page.locator('[data-testid="stMain"] [data-stale="true"]')).to_have_count(0, timeout=timeout)


def click_until(page, target, outcome, attempts: int = 3, timeout: float = 10_000) -> None:
    """Click target until outcome (a locator) is visible. Chromium 156 can lose a click that lands
    while the page reruns; a person would click again, and so does this, after the page settles."""
    from playwright.sync_api import expect

    for _ in range(attempts - 1):
        target.click()
        try:
            expect(outcome).to_be_visible(timeout=timeout)
            return
        except AssertionError:
            settle(page)
            if outcome.count() and outcome.first.is_visible():
                return
    target.click()
    expect(outcome).to_be_visible()


def go_to(page, title: str) -> None:
    """Open a page through the sidebar navigation (a click keeps the session; a URL load would not)."""
    from playwright.sync_api import expect

    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible(timeout=30_000)
    settle(page)


def main(page):
    """The page body (not the sidebar)."""
    return page.locator('[data-testid="stMain"]')


def upload_files(page, uploader_label: str, files) -> None:
    """Give files (or one folder) to the uploader with this label."""
    uploader = page.locator(UPLOADER).filter(has_text=uploader_label)
    uploader.locator('input[type="file"]').set_input_files(files)


def plotly_trace_points(chart) -> int:
    """How many data points the plotly chart draws (markers and line vertices of every trace)."""
    return chart.evaluate("""(el) => {
        const plot = el.querySelector('.js-plotly-plot');
        if (!plot || !plot.data) return 0;
        return plot.data.reduce((n, trace) => n + ((trace.x && trace.x.length) || 0), 0);
    }""")


def progress_value(page) -> float | None:
    """The fill of the first progress bar in the page body, in [0, 100], or None when there is none."""
    bar = main(page).locator(f'{PROGRESS} [role="progressbar"]')
    if bar.count() == 0:
        return None
    try:
        value = bar.first.get_attribute("aria-valuenow", timeout=1000)
    except Exception:  # re-rendered between count() and the read
        return None
    return float(value) if value is not None else None


@contextmanager
def context_page(browser, base_url: str, launch_args: list[str] | None = None):
    """A fresh browser context and page on the app, closed afterwards. With launch_args (flags that only
    a launch takes, such as a fake camera's), in a Chromium of its own beside the shared one."""
    own = browser.browser_type.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS + launch_args) \
        if launch_args else None
    context = (own or browser).new_context(viewport=VIEWPORT, accept_downloads=True, base_url=base_url)
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
        if own is not None:
            own.close()


def dataframe_rows(dataframe) -> list[list[str]]:
    """A st.dataframe's visible cells as text, header row first (from the grid's accessible table).

    The grid draws on a canvas; behind it, glide-data-grid keeps a table for screen readers that
    holds the rows currently in view. Returns [] while the table is not there yet.
    """
    if dataframe.count() == 0:
        return []
    try:
        return dataframe.first.evaluate("""(el) => {
            const table = el.querySelector('table[role="grid"]');
            if (!table) return [];
            return Array.from(table.querySelectorAll('tr')).map(
                (tr) => Array.from(tr.querySelectorAll('th, td')).map((c) => c.textContent.trim()));
        }""")
    except Exception:  # re-rendered while reading
        return []


def set_slider(page, label: str, value) -> None:
    """Move the slider (or select_slider) with this label to value with the keyboard, as a person can."""
    from playwright.sync_api import expect

    group = main(page).get_by_role("group", name=label, exact=True)
    thumb = group.get_by_role("slider")
    expect(thumb).to_be_visible()

    def current() -> float:
        text = thumb.get_attribute("aria-valuetext") or thumb.get_attribute("aria-valuenow")
        return float(text)

    thumb.focus()
    if str(value) == thumb.get_attribute("aria-valuemax") or _last_option(group) == str(value):
        thumb.press("End")  # far moves the quick way, as a person would
    for _ in range(200):
        now = current()
        if now == float(value):
            break
        thumb.press("ArrowRight" if now < float(value) else "ArrowLeft")
    else:
        raise AssertionError(f"the slider '{label}' did not reach {value} (it shows {current()})")
    thumb.evaluate("(el) => el.blur()")  # no focus ring left in the screenshots
    settle(page)
    # After the rerun the slider must still say so (a rerun must not undo the choice).
    expect(group.get_by_test_id("stSliderThumbValue")).to_have_text(str(value))


def _last_option(group) -> str | None:
    """The largest value a slider shows under its track (its maximum), if it shows one."""
    ticks = group.get_by_test_id("stSliderTickBar")
    texts = ticks.all_inner_texts() if ticks.count() else []
    parts = texts[0].split() if texts else []
    return parts[-1] if parts else None
