"""Every page at 1024 px, a classroom projector's width: nothing runs off the side; a picture of each."""
import pytest

from browser_support import main, screenshot_on_failure, settle

from .steps import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

PROJECTOR = {"width": 1024, "height": 768}
PAGES = {"Home": "Transfer Learning Studio", "Data": "Data", "Train": "Train", "Runs": "Runs",
         "Experiments": "Experiments", "Predict & export": "Predict & export"}


def overflow_px(page) -> int:
    """How far the main area's content reaches past its visible width (0: nothing is cut)."""
    return page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMain"]');
        return main ? main.scrollWidth - main.clientWidth : 0;
    }""")


@screenshot_on_failure
def test_every_page_fits_a_projector(page, shots):
    viewport = page.viewport_size
    page.set_viewport_size(PROJECTOR)
    try:
        for title, heading in PAGES.items():
            page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True).click()
            expect(main(page).get_by_role("heading", name=heading, level=1)).to_be_visible(timeout=30_000)
            settle(page)
            assert overflow_px(page) <= 0, f"the {title} page is wider than 1024 px"
            shots.take(page, f"1024-{title.split()[0].lower()}")
    finally:
        page.set_viewport_size(viewport)
