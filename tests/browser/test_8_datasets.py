"""The datasets library: an earlier dataset is picked after a reload, and a second tab starts with it."""
import pytest

from browser_support import click_until, context_page, go_to, main, screenshot_on_failure, settle

from .steps import FIRST_LOAD_MS, expect

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]


def dataset_row(page, name: str):
    return main(page).locator('[class*="st-key-dataset_"]').filter(has_text=name).first


@screenshot_on_failure
def test_an_earlier_dataset_is_picked_after_a_reload_and_kept_in_a_new_tab(page, shots, server, browser,
                                                                          image_folder):
    # Earlier steps uploaded the image folder and then chose the built-in sample: both are listed.
    page.reload()
    expect(page.get_by_test_id("stSidebarNav")).to_be_visible(timeout=FIRST_LOAD_MS)
    go_to(page, "Data")
    expect(main(page).get_by_role("heading", name="Your datasets")).to_be_visible()
    ours, sample = dataset_row(page, image_folder.name), dataset_row(page, "Fashion sample")
    expect(ours).to_be_visible()
    expect(sample).to_contain_text("in use")  # the last one chosen, found again after the reload
    expect(ours).to_contain_text("3 classes")
    expect(ours.get_by_test_id("stImage")).not_to_have_count(0)

    click_until(page, ours.get_by_role("button", name="Use"),
                main(page).get_by_role("heading", name=f"Check before training: {image_folder.name}"))
    expect(dataset_row(page, image_folder.name)).to_contain_text("in use")
    settle(page)
    shots.take(page, "10-datasets-library")

    page.reload()  # the choice is in the URL and on disk: the reload keeps it
    expect(main(page).get_by_role("heading", name=f"Check before training: {image_folder.name}")).to_be_visible(
        timeout=FIRST_LOAD_MS)
    go_to(page, "Train")
    expect(main(page).get_by_text(f"Training on {image_folder.name}")).to_be_visible()

    with context_page(browser, server.url) as second:  # a new tab: a new session, the same studio
        second.set_viewport_size({"width": 1024, "height": 768})  # on the classroom projector
        second.goto("/train")
        expect(second.get_by_role("heading", name="Train", level=1)).to_be_visible(timeout=FIRST_LOAD_MS)
        expect(main(second).get_by_text(f"Training on {image_folder.name}")).to_be_visible()
        # Picking another earlier dataset there works at this width too.
        go_to(second, "Data")
        click_until(second, dataset_row(second, "Fashion sample").get_by_role("button", name="Use"),
                    main(second).get_by_role("heading", name="Check before training: Fashion sample (built in)"))
        expect(dataset_row(second, "Fashion sample")).to_contain_text("in use")
        shots.take(second, "10-datasets-library-1024")
