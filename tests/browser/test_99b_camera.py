"""A dataset from the camera, Teachable-Machine style: two classes taken with Chromium's fake camera,
trained, and the camera's picture named on the Predict page.

The fake camera films a Y4M video of one generated picture; it needs launch flags, so this test starts
its own Chromium beside the shared one, on the same app.
"""
import pytest

from browser_support import CHROMIUM_ARGS, VIEWPORT, chromium_executable, main, settle
from imagegen import make_image, save_image

from .steps import expect
from .test_6_export_web import write_y4m

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


def moving_video(workspace):
    """A slow Y4M film of different pictures, two a second: snapshots taken apart differ, as a person's do
    (identical pictures in two classes would be refused, rightly)."""
    video = workspace / "camera-moving.y4m"
    header, frames = None, []
    for index in range(40):
        picture = save_image(make_image(index % 4, index, (48, 40)), workspace / f"camera-{index}.png")
        one = write_y4m(picture, workspace / f"camera-{index}.y4m", frames=1).read_bytes()
        first_line, frame = one.split(b"\n", 1)
        header = header or first_line.replace(b"F10:1", b"F2:1")
        frames.append(frame)
    video.write_bytes(header + b"\n" + b"".join(frames))
    return video


@pytest.fixture(scope="module")
def camera_page(browser, server, workspace):
    video = moving_video(workspace)
    args = CHROMIUM_ARGS + ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                            f"--use-file-for-fake-video-capture={video}"]
    chromium = browser.browser_type.launch(executable_path=chromium_executable(), args=args)
    context = chromium.new_context(viewport=VIEWPORT, base_url=server.url)
    context.set_default_timeout(30_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()
        chromium.close()


def take_photo(page) -> None:
    body = main(page)
    # The picture is taken from the live video: only once it plays is there a frame to take.
    page.wait_for_function("""() => Array.from(document.querySelectorAll('[data-testid="stMain"] video'))
        .some(v => v.readyState >= 2 && v.videoWidth > 0)""", timeout=30_000)
    for _ in range(3):  # a click that lands while the page reruns can be lost (Chromium 156): try again
        expect(body.get_by_role("button", name="Take Photo")).to_be_enabled()
        body.get_by_role("button", name="Take Photo").click()
        try:
            expect(body.get_by_role("button", name="Clear photo")).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            settle(page)
    expect(body.get_by_role("button", name="Clear photo")).to_be_visible()
    settle(page)
    for _ in range(3):  # a click that lands while the page reruns can be lost (Chromium 156): try again
        body.get_by_role("button", name="Clear photo").click()
        try:
            expect(body.get_by_role("button", name="Take Photo")).to_be_visible(timeout=10_000)
            break
        except AssertionError:
            settle(page)
    expect(body.get_by_role("button", name="Take Photo")).to_be_visible()
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
    for name in ("thumbs up", "open hand"):
        box = main(page).get_by_label("Class being taken")
        box.fill(name)
        box.press("Enter")
        settle(page)
        for _ in range(6):  # the film moves on twice a second: a picture taken too soon is the same one
            take_photo(page)
            if main(page).get_by_text(f"{name}: 2 pictures").count():
                break
            page.wait_for_timeout(700)
        expect(main(page).get_by_text(f"{name}: 2 pictures")).to_be_visible()
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
        main(page).locator("strong").filter(has_text="I’m not sure")).first).to_be_visible(timeout=30_000)
    shots.take(page, "camera-predict")
