"""Every page at a phone's 390 px, a classroom projector's 1024 px and a laptop's 1400 px: nothing runs off
the side, no chart's title runs past its chart; a picture of each."""
import pytest

from browser_support import main, screenshot_on_failure, settle

from .steps import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

WIDTHS = {390: {"width": 390, "height": 844}, 1024: {"width": 1024, "height": 768},  # a phone, a projector
          1400: {"width": 1400, "height": 900}}  # a laptop
# page title -> (its address, its heading)
PAGES = {"Home": ("/", "Transfer Learning Studio"), "Data": ("/data", "Data"), "Train": ("/train", "Train"),
         "Runs": ("/runs", "Runs"), "Experiments": ("/experiments", "Experiments"),
         "Predict & export": ("/predict", "Predict & export")}


def overflow_px(page) -> int:
    """How far the main area's content reaches past its visible width (0: nothing is cut)."""
    return page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMain"]');
        return main ? main.scrollWidth - main.clientWidth : 0;
    }""")


def titles_past_their_chart(page) -> list[str]:
    """The chart titles whose text reaches past the right edge of their chart."""
    return page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(plot => {
        const box = plot.getBoundingClientRect();
        return [...plot.querySelectorAll('.gtitle')]
            .filter(title => title.getBoundingClientRect().right > box.right + 1)
            .map(title => title.textContent);
    })""")


@screenshot_on_failure
@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_every_page_fits_a_phone_a_projector_and_a_laptop(page, shots, width):
    viewport = page.viewport_size
    page.set_viewport_size(WIDTHS[width])
    try:
        for title, (path, heading) in PAGES.items():
            page.goto(path)  # by address: on a phone the sidebar's links are folded away
            expect(main(page).get_by_role("heading", name=heading, level=1)).to_be_visible(timeout=30_000)
            settle(page)
            assert overflow_px(page) <= 0, f"the {title} page is wider than {width} px"
            assert titles_past_their_chart(page) == [], f"chart titles cut on the {title} page at {width} px"
            shots.take(page, f"{width}-{title.split()[0].lower()}")
    finally:
        page.set_viewport_size(viewport)
