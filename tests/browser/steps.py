"""What a person does in the app, as Playwright steps, and the settings the browser tests share."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from browser_support import PLOTLY, PROGRESS, go_to, main, plotly_trace_points, progress_value, set_slider, \
    settle, upload_files
from waiting import wait_for

try:
    from playwright.sync_api import expect
except ImportError:  # the fixtures skip (or fail, with TLSTUDIO_REQUIRE_BROWSER=1) before any test runs
    expect = None
else:
    expect.set_options(timeout=30_000)

# imagegen draws the classes, in name order, as ellipses, rectangles and triangles: names to match.
CLASSES = {"circles": 8, "squares": 8, "triangles": 8}
IMAGE_SIZE = 64  # small, so that runs take seconds on a laptop CPU
RUN_TIMEOUT_MS = 120_000
CANCEL_WITHIN_S = 15.0
FIRST_LOAD_MS = 90_000  # the first page imports torch and checks the weights


# -- steps a person takes ---------------------------------------------------------------------------

def upload_dataset(page, folder: Path) -> None:
    """On the Data page: give the folder to the folder uploader and wait for the report."""
    go_to(page, "Data")
    page.get_by_role("tab", name="Folder", exact=True).click()
    upload_files(page, "Folder of images", str(folder))
    expect(main(page).get_by_role("heading", name=f"Check before training: {folder.name}")).to_be_visible(
        timeout=60_000)
    settle(page)


def ensure_dataset(page, folder: Path) -> None:
    """Open Train; upload the folder first when this session has no dataset (after a reload, say)."""
    go_to(page, "Train")
    if main(page).get_by_text("First choose the images to train on.").count():
        upload_dataset(page, folder)
        go_to(page, "Train")
    expect(main(page).get_by_text(f"Training on {folder.name}")).to_be_visible()


def choose_training(page, strategy: str, epochs: int,
                    epochs_label: str = "Rounds of training (epochs)", early_stop: int | None = None) -> None:
    """On the Train page: MobileNetV2, the strategy, epochs and the small image size; early_stop
    sets the rounds without a better score that end a phase (0: never, for a run that must last)."""
    backbone = main(page).get_by_role("combobox", name="Network that already knows how to see (backbone)")
    expect(backbone).to_have_value(re.compile(r"^MobileNetV2 "))  # the default
    main(page).get_by_test_id("stRadio").get_by_text(strategy, exact=True).click()
    settle(page)
    set_slider(page, epochs_label, epochs)
    set_slider(page, "Picture size (pixels)", IMAGE_SIZE)
    settle(page)
    if early_stop is not None:
        more = main(page).get_by_test_id("stExpander").filter(has_text="More settings")
        if not more.get_by_role("spinbutton", name=re.compile("early stopping")).is_visible():
            more.locator("summary").click()
        patience = more.get_by_role("spinbutton", name=re.compile("early stopping"))
        patience.fill(str(early_stop))
        patience.press("Enter")
        settle(page)


def start_training(page) -> str:
    """Press Start; the app moves to the run's live view. Returns the run id from the URL."""
    main(page).get_by_role("button", name="Start training").click()
    expect(page.get_by_role("heading", name="Runs", level=1)).to_be_visible(timeout=30_000)
    expect(page).to_have_url(re.compile(r"[?&]run="))
    return parse_qs(urlparse(page.url).query)["run"][0]


def run_caption(page, run_id: str):
    """The live view's line of settings under its title, which ends with the run id."""
    return main(page).get_by_test_id("stCaptionContainer").filter(has_text=run_id).first


def chart(page, kind: str, run_id: str):
    """The run view's plotly chart with this key prefix (loss, accuracy, confusion)."""
    return main(page).locator(f".st-key-{kind}_{run_id} {PLOTLY}")


def points(page, kind: str, run_id: str) -> int:
    locator = chart(page, kind, run_id)
    try:
        return plotly_trace_points(locator.first) if locator.count() else 0
    except Exception:  # re-rendered between count() and evaluate(): no reading this time
        return 0


def run_state(server, run_id: str) -> str | None:
    return server.run_statuses().get(run_id, {}).get("state")


def watch_until_trained(page, server, run_id: str, min_epochs: int = 1) -> list[float]:
    """Until the live view shows min_epochs epochs (accuracy curve) and the progress bar has grown
    from one training epoch to the next.

    Returns the fills the progress bar showed while training ("..., round n of m ..."), in order.
    """
    fills = []

    def trained() -> bool:
        assert run_state(server, run_id) in ("queued", "running"), \
            f"run {run_id} ended early: {server.run_statuses().get(run_id)}"
        fill = progress_value(page)
        captions = main(page).locator(PROGRESS).all_inner_texts() if fill is not None else []
        if captions and ", round " in captions[0] and (not fills or fills[-1] != fill):
            fills.append(fill)
        grown = len(fills) >= 2 and fills[-1] > fills[0]
        return grown and points(page, "accuracy", run_id) >= 2 * min_epochs  # train + validation per epoch
    wait_for(trained, timeout=90, every=0.2,
             message=f"{min_epochs} epoch(s) of run {run_id} and a growing progress bar (fills seen: {fills})")
    return fills



def sidebar_and_page_agree(page, timeout: float = 15) -> str:
    """Wait until the sidebar's progress caption and the live view's say the same; returns it.

    Both redraw every 1.5 s from the same status file, each on its own timer, so for a moment one
    may be a refresh ahead; they must agree once both have redrawn.
    """
    def same() -> str | None:  # the part and round; steps and seconds left move on between two redraws
        page_captions = main(page).locator(PROGRESS).all_inner_texts()
        side_captions = page.get_by_test_id("stSidebar").locator(PROGRESS).all_inner_texts()
        if page_captions and side_captions and page_captions[0].split(" · ")[0] == side_captions[0].split(" · ")[0]:
            return page_captions[0]
        return None
    return wait_for(same, timeout=timeout, every=0.1, message="the sidebar and the page showing the same progress")


def try_the_sample(page) -> None:
    """On the Home page: the built-in sample chosen and opened on the Train page, to choose the settings."""
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Home", exact=True).click()
    main(page).get_by_role("button", name="Try the sample dataset").click()
    expect(page.get_by_role("heading", name="Train", level=1)).to_be_visible(timeout=60_000)
    expect(main(page).get_by_text("Training on Fashion sample")).to_be_visible()
    settle(page)


def train_the_sample(page) -> str:
    """On the Home page: the one-click start, which trains the built-in sample with the Train page's defaults
    and opens the run's live view. Returns the run id from the URL."""
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Home", exact=True).click()
    main(page).get_by_role("button", name="Train a model on the sample").click()
    expect(page.get_by_role("heading", name="Runs", level=1)).to_be_visible(timeout=60_000)
    expect(page).to_have_url(re.compile(r"[?&]run="))
    return parse_qs(urlparse(page.url).query)["run"][0]
