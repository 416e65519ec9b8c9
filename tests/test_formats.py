"""Pictures as phones, cameras and browsers make them (HEIC, AVIF, MPO), and formats named when not read."""
import numpy as np
import pytest
from PIL import ExifTags, Image, features

from tlcore.data.decoding import IMAGE_EXTENSIONS
from tlcore.data.imagecache import ImageCache
from tlcore.data.picture_file import ImageProblem, load_rgb
from tlcore.data.scan import scan

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def save_heic(image: Image.Image, path, exif: bytes | None = None) -> None:
    """Write a HEIC file as a phone does: the pixels as the sensor saw them, and an EXIF orientation that
    pillow-heif's writer also stores as the file's rotation. It is called directly: registering its Pillow
    plugin here would hide whether the studio registers its reader itself."""
    import pillow_heif
    heic = pillow_heif.from_bytes(image.mode, image.size, image.tobytes())
    heic.save(path, quality=90, **({"exif": exif} if exif else {}))


def wide_picture() -> Image.Image:
    """32x16, red on the left half, blue on the right: its orientation shows in its corners."""
    pixels = np.zeros((16, 32, 3), np.uint8)
    pixels[:, :16], pixels[:, 16:] = RED, BLUE
    return Image.fromarray(pixels)


def turned_exif() -> bytes:
    """EXIF saying "turn 90 degrees clockwise to show" (orientation 6), as a phone held upright writes."""
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    return exif.tobytes()


def close_to(pixel, colour) -> bool:
    return max(abs(int(a) - b) for a, b in zip(pixel, colour)) < 40


def assert_turned_upright(image: Image.Image) -> None:
    """The wide picture turned a quarter clockwise: tall, red at the top, blue at the bottom."""
    assert image.size == (16, 32)
    pixels = np.asarray(image)
    assert close_to(pixels[2, 8], RED) and close_to(pixels[-3, 8], BLUE)


def test_a_heic_photo_is_read_upright(tmp_path):
    path = tmp_path / "phone.heic"
    save_heic(wide_picture(), path, exif=turned_exif())
    assert_turned_upright(load_rgb(path))


def test_a_heic_photo_is_read_whatever_its_name(tmp_path):
    path = tmp_path / "renamed.jpg"
    save_heic(wide_picture(), path)
    assert load_rgb(path).size == (32, 16)


def test_a_heif_file_gives_its_main_picture_not_its_first(tmp_path):
    import pillow_heif
    path = tmp_path / "two.heic"
    pictures = pillow_heif.from_pillow(Image.new("RGB", (16, 16), GREEN))
    pictures.add_from_pillow(Image.new("RGB", (24, 16), RED))
    pictures.save(path, quality=90, primary_index=1)
    image = load_rgb(path)
    assert image.size == (24, 16) and close_to(image.getpixel((4, 4)), RED)


def test_an_avif_picture_is_read_upright(tmp_path):
    assert features.check("avif"), "Pillow's wheels read AVIF; this Pillow was built without it"
    path = tmp_path / "browser.avif"
    wide_picture().save(path, "AVIF", exif=turned_exif(), quality=90)
    assert_turned_upright(load_rgb(path))


def test_an_mpo_gives_its_first_frame(tmp_path):
    root = tmp_path / "ds"
    for name, colour in (("cats", RED), ("dogs", BLUE)):
        (root / name).mkdir(parents=True)
        for width in (24, 25):  # a camera's two views: the photo first, the other eye's second
            Image.new("RGB", (width, 16), colour).save(root / name / f"{width}.mpo", "MPO", save_all=True,
                                                       append_images=[Image.new("RGB", (width, 16), GREEN)])
    with Image.open(root / "cats" / "24.mpo") as written:
        assert written.format == "MPO" and written.n_frames == 2
    cache = ImageCache(tmp_path / "cache")
    manifest = scan(root, cache=cache, image_size=16)
    assert manifest.skipped == [] and len(manifest.samples) == 4
    for sample in manifest.samples:
        colour = RED if manifest.classes[sample.label] == "cats" else BLUE
        assert close_to(cache.load(sample.key, 16)[8, 8], colour)


def test_a_heic_over_the_pixel_limit_is_refused(tmp_path):
    path = tmp_path / "big.heic"
    save_heic(wide_picture(), path)
    with pytest.raises(ImageProblem) as caught:
        load_rgb(path, max_pixels=500)  # 32 x 16 = 512 pixels
    assert caught.value.reason == "image is 32x16 pixels, over the 0.0005 megapixel limit"


def test_a_folder_of_phone_and_camera_pictures_is_scanned(tmp_path):
    root = tmp_path / "ds"
    for name in ("cats", "dogs"):
        (root / name).mkdir(parents=True)
    save_heic(wide_picture(), root / "cats" / "a.heic", exif=turned_exif())
    wide_picture().save(root / "cats" / "b.avif", "AVIF", quality=90)
    Image.new("RGB", (24, 16), BLUE).save(root / "dogs" / "c.mpo", "MPO", save_all=True,
                                          append_images=[Image.new("RGB", (24, 16), GREEN)])
    save_heic(wide_picture(), root / "dogs" / "d.HEIF")
    manifest = scan(root, cache=ImageCache(tmp_path / "cache"), image_size=16)
    assert manifest.skipped == []
    assert sorted(s.path.rsplit("/", 1)[-1] for s in manifest.samples) == ["a.heic", "b.avif", "c.mpo", "d.HEIF"]
    assert {".heic", ".heif", ".avif", ".mpo"} <= IMAGE_EXTENSIONS  # the Predict page's uploader takes them too


def test_formats_not_read_are_named_not_called_not_an_image(tmp_path):
    root = tmp_path / "ds"
    for name in ("cats", "dogs"):
        (root / name).mkdir(parents=True)
        for index in range(2):  # different pictures: the same one twice counts once
            Image.new("RGB", (16 + index, 16), RED if name == "cats" else BLUE).save(root / name / f"{index}.png")
    (root / "cats" / "layers.psd").write_bytes(b"8BPS\x00\x01" + bytes(20))  # a Photoshop header
    (root / "cats" / "IMG_0001.CR2").write_bytes(b"II*\x00\x10\x00\x00\x00CR\x02\x00")
    (root / "dogs" / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (root / "dogs" / "notes.txt").write_text("not a picture at all")
    manifest = scan(root, cache=ImageCache(tmp_path / "cache"), image_size=16)
    assert {s.path: s.reason for s in manifest.skipped} == {
        "cats/layers.psd": "Photoshop files (.psd) are not read; save it as PNG or JPEG",
        "cats/IMG_0001.CR2": "Camera raw files (.CR2) are not read; export it as JPEG or PNG from a photo program",
        "dogs/logo.svg": "Vector drawings (.svg) are not read; save it as PNG or JPEG",
        "dogs/notes.txt": "not an image file (.txt)",
    }


def test_a_file_in_no_format_read_lists_the_formats_read(tmp_path):
    path = tmp_path / "fake.heic"
    path.write_bytes(b"\x00\x00\x00\x18ftypheic" + bytes(40))  # a HEIC header and nothing after it
    with pytest.raises(ImageProblem) as caught:
        load_rgb(path)
    assert caught.value.reason == ("not a picture in a format the studio reads "
                                   "(JPEG, PNG, HEIC, AVIF, WebP, GIF, BMP, TIFF, PPM or MPO)")
