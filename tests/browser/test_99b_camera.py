"""A dataset from the camera, Teachable-Machine style: two classes taken with Chromium's fake camera, a
burst of ten pictures each, trained, and the camera's picture named on the Predict page.

The fake camera films a Y4M video of one generated picture; it needs launch flags, so this test starts
its own Chromium beside the shared one, on the same app.
"""
import pytest

from browser_support import click_until, context_page, main, settle
from imagegen import make_image, save_image

from .steps import expect
from .test_6_export_web import write_y4m

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]


def moving_video(workspace):
    """A Y4M film of 200 different pictures, ten a second: the pictures of a burst, taken a quarter of a
    second apart, differ, as a person's do, and the film does not come round again between the two
    classes' bursts (identical pictures would be left out, rightly)."""
    video = workspace / "camera-moving.y4m"
    header, frames = None, []
    for index in range(200):
        picture = save_image(make_image(index % 4, index, (48, 40)), workspace / f"camera-{index}.png")
        one = write_y4m(picture, workspace / f"camera-{index}.y4m", frames=1).read_bytes()
        first_line, frame = one.split(b"\n", 1)
        header = header or first_line
        frames.append(frame)
    video.write_bytes(header + b"\n" + b"".join(frames))
    return video


@pytest.fixture(scope="module")
def camera_page(browser, server, workspace):
    video = moving_video(workspace)
    camera = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              f"--use-file-for-fake-video-capture={video}"]
    with context_page(browser, server.url, launch_args=camera) as tab:
        yield tab


def name_class(page, name: str) -> None:
    """Type the class being taken; the burst button is enabled once the server has it."""
    box = main(page).get_by_label("Class being taken")
    for _ in range(3):  # an Enter pressed while the page reruns can be lost (Chromium 156): press it again
        box.fill(name)
        box.press("Enter")
        settle(page)
        try:
            expect(main(page).get_by_text("Name the class first.")).to_have_count(0, timeout=10_000)
            return
        except AssertionError:
            pass
    expect(main(page).get_by_text("Name the class first.")).to_have_count(0)


def take_burst(page, name: str, count: int) -> None:
    """Take a burst of pictures for the class being named, and see them counted."""
    body = main(page)
    button = body.get_by_role("button", name=f"Take {count} pictures")
    expect(button).to_be_enabled(timeout=30_000)  # once the film plays and the class has a name
    click_until(page, button, body.get_by_text(f"{name}: {count} pictures"), timeout=15_000)
    settle(page)


def test_two_classes_from_the_camera_train_and_the_camera_is_named(camera_page, shots):
    try:
        camera_journey(camera_page, shots)
    except Exception:
        shots.take(camera_page, "FAILED-camera")  # what the camera page showed when it failed
        raise


def camera_journey(page, shots) -> None:
    page.goto("/data")
    expect(page.get_by_role("heading", name="Data", level=1)).to_be_visible(timeout=60_000)
    main(page).get_by_role("tab", name="Take pictures").click()
    click_until(page, main(page).get_by_role("button", name="Turn the camera on"),
                main(page).get_by_role("button", name="Take 10 pictures"))  # the camera opens when asked
    expect(main(page).get_by_role("button", name="Take 10 pictures")).to_be_disabled()  # no class named yet
    for name in ("thumbs up", "open hand"):
        name_class(page, name)
        take_burst(page, name, 10)
    shots.take(page, "camera-classes")
    main(page).get_by_role("button", name="Save as a dataset and use it").click()
    settle(page, timeout=60_000)
    expect(main(page).get_by_text("Camera · thumbs up, open hand").first).to_be_visible(timeout=30_000)

    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Train", exact=True).click()
    expect(main(page).get_by_role("heading", name="Train", level=1)).to_be_visible()
    main(page).get_by_role("button", name="Start training").click()
    expect(page.get_by_role("heading", name="Runs", level=1)).to_be_visible(timeout=30_000)
    expect(main(page).get_by_text("Finished in")).to_be_visible(timeout=240_000)

    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Predict & export", exact=True).click()
    expect(main(page).get_by_role("heading", name="Predict & export", level=1)).to_be_visible()
    main(page).get_by_text("Use the camera").click()
    settle(page)
    page.wait_for_function("""() => Array.from(document.querySelectorAll('[data-testid="stMain"] video'))
        .some(v => v.readyState >= 2 && v.videoWidth > 0)""", timeout=30_000)
    main(page).get_by_role("button", name="Take Photo").click()
    expect(main(page).get_by_text("camera snapshot")).to_be_visible(timeout=30_000)
    expect(main(page).locator("strong").filter(has_text="thumbs up").or_(
        main(page).locator("strong").filter(has_text="open hand")).or_(
        main(page).locator("strong").filter(has_text="I’m not sure")).or_(
        main(page).locator("strong").filter(has_text="None of these")).first).to_be_visible(timeout=30_000)
    shots.take(page, "camera-predict")


def test_without_a_camera_the_page_says_so_and_the_rest_works(page, shots):
    """The shared Chromium has no camera at all: the tab says so in words, and the uploads still work."""
    page.goto("/data")
    expect(page.get_by_role("heading", name="Data", level=1)).to_be_visible(timeout=60_000)
    main(page).get_by_role("tab", name="Take pictures").click()
    expect(main(page).get_by_text("The camera could not be opened")).to_have_count(0)  # not opened unasked
    click_until(page, main(page).get_by_role("button", name="Turn the camera on"),
                main(page).get_by_text("The camera could not be opened").first, timeout=30_000)
    shots.take(page, "camera-absent")
    main(page).get_by_role("tab", name="Folder", exact=True).click()
    expect(main(page).get_by_test_id("stFileUploader").first).to_be_visible()
