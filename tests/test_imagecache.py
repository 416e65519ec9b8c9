"""Decoding, colour-mode conversion, refusal reasons, resizing and the on-disk image cache."""
import tracemalloc

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from imagegen import (image_bytes, make_image, save_image, write_animated_gif, write_empty_file,
                      write_jpeg_with_orientation, write_png_bomb, write_png_header_only,
                      write_text_as_image, write_truncated_jpeg)
from tlcore.data import imagecache
from tlcore.data.picture_file import ImageProblem, load_rgb, resize_center_crop
from tlcore.data.imagecache import ImageCache, content_key


def pixel(image, x, y):
    return tuple(int(v) for v in np.asarray(image)[y, x])


def test_rgb_image_is_returned_unchanged(tmp_path):
    original = make_image(0, 1, (30, 20))
    result = load_rgb(save_image(original, tmp_path / "a.png"))
    assert result.mode == "RGB" and result.size == (30, 20)
    assert np.array_equal(np.asarray(result), np.asarray(original))


def test_cmyk_converts_to_rgb(tmp_path):
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # full magenta + yellow = red
    result = load_rgb(save_image(cmyk, tmp_path / "cmyk.tiff"))
    assert result.mode == "RGB"
    assert pixel(result, 3, 3) == (255, 0, 0)


@pytest.mark.parametrize("mode", ["I;16", "I"])
def test_16_bit_grayscale_is_scaled_not_clipped(tmp_path, mode):
    values = np.array([[0, 16384, 32768, 65535]], dtype=np.uint16)
    source = Image.fromarray(values) if mode == "I;16" else Image.fromarray(values.astype(np.int32))
    assert source.mode == mode
    name = "deep.tiff" if mode == "I" else "deep.png"  # PNG cannot hold 32-bit integers
    result = load_rgb(save_image(source, tmp_path / name))
    greys = [pixel(result, x, 0)[0] for x in range(4)]
    assert greys == [0, 64, 128, 255]


def test_float_image_in_unit_range_is_scaled(tmp_path):
    source = Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32))
    result = load_rgb(save_image(source, tmp_path / "float.tiff"))
    assert [pixel(result, x, 0)[0] for x in range(3)] == [0, 128, 255]


def test_palette_transparency_becomes_white(tmp_path):
    palette_image = Image.new("P", (10, 10), 0)
    palette_image.putpalette([0, 0, 0, 200, 10, 10] + [0] * 762)
    palette_image.paste(1, (0, 0, 5, 10))  # left half red, right half index 0 = transparent black
    palette_image.info["transparency"] = 0
    result = load_rgb(save_image(palette_image, tmp_path / "p.png", transparency=0))
    assert pixel(result, 1, 1) == (200, 10, 10)
    assert pixel(result, 8, 8) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_onto_white(tmp_path, mode):
    colour = (0, 0, 200, 0) if mode == "RGBA" else (0, 0)
    image = Image.new(mode, (10, 10), colour)  # fully transparent dark pixels
    half = (0, 0, 200, 128) if mode == "RGBA" else (0, 128)
    image.paste(half, (0, 0, 5, 10))  # half-transparent on the left
    result = load_rgb(save_image(image, tmp_path / f"{mode}.png"))
    assert pixel(result, 8, 5) == (255, 255, 255)
    left = pixel(result, 2, 5)
    expected_blue = 228 if mode == "RGBA" else 127  # 200*a + 255*(1-a), or black at half alpha
    assert abs(left[2] - expected_blue) <= 1 and abs(left[0] - 127) <= 1


def test_one_bit_image_is_black_and_white(tmp_path):
    image = Image.new("1", (8, 8), 0)
    image.paste(1, (0, 0, 4, 8))
    result = load_rgb(save_image(image, tmp_path / "bits.png"))
    assert pixel(result, 1, 1) == (255, 255, 255) and pixel(result, 6, 1) == (0, 0, 0)


def test_animated_gif_gives_first_frame(tmp_path):
    path = write_animated_gif(tmp_path / "anim.gif", [(255, 0, 0), (0, 0, 255), (0, 255, 0)])
    with Image.open(path) as check:
        assert check.n_frames == 3
    result = load_rgb(path)
    assert pixel(result, 5, 5) == (255, 0, 0)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (60, 40), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 20, 40))  # red band on the left
    path = write_jpeg_with_orientation(tmp_path / "rotated.jpg", image, orientation=6)
    result = load_rgb(path)
    # Orientation 6 means "rotate 90 degrees clockwise to display": the left band goes to the top.
    assert result.size == (40, 60)
    top, bottom = pixel(result, 20, 5), pixel(result, 20, 55)
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


@pytest.mark.parametrize("writer, reason", [
    (write_truncated_jpeg, "truncated or corrupt image data"),
    (write_empty_file, "empty file"),
    (write_text_as_image, "not a picture in a format the studio reads (JPEG, PNG, HEIC, AVIF, WebP, GIF, BMP, TIFF, PPM or MPO)"),
])
def test_unusable_files_give_specific_reasons(tmp_path, writer, reason):
    path = writer(tmp_path / "bad.jpg")
    with pytest.raises(ImageProblem) as caught:
        load_rgb(path)
    assert caught.value.reason == reason


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = write_png_bomb(tmp_path / "bomb.png", (9000, 9000))
    assert path.stat().st_size < 100_000  # tiny on disk, 81 megapixels claimed
    with pytest.raises(ImageProblem) as caught:
        load_rgb(path)
    assert caught.value.reason == "image is 9000x9000 pixels, over the 80 megapixel limit"


def test_pixel_limit_is_per_call(tmp_path):
    path = write_png_bomb(tmp_path / "big.png", (2000, 1000))
    assert load_rgb(path).size == (2000, 1000)
    with pytest.raises(ImageProblem, match="over the 1 megapixel limit"):
        load_rgb(path, max_pixels=1_000_000)
    with pytest.raises(ImageProblem):
        ImageCache(tmp_path / "cache", max_pixels=1_000_000).ensure(path, 16)
    assert Image.MAX_IMAGE_PIXELS != 1_000_000  # Pillow's global was left alone


def test_pillow_hard_limit_is_reported_as_a_refusal(tmp_path):
    path = write_png_header_only(tmp_path / "huge.png", (20000, 10000))  # past Pillow's own limit
    with pytest.raises(ImageProblem) as caught:
        load_rgb(path)
    assert caught.value.reason == "image has 200 megapixels, over the 80 megapixel limit"


@pytest.mark.parametrize("width, height, size", [
    (40, 32, 24), (32, 40, 24), (333, 517, 224), (301, 229, 224), (224, 300, 224),
    (50, 50, 224), (7, 300, 64)])
def test_resize_center_crop_matches_torchvision(width, height, size):
    transforms = pytest.importorskip("torchvision.transforms")
    rng = np.random.default_rng(width * height)
    image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    reference = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size)])(image)
    ours = resize_center_crop(image, size)
    assert ours.shape == (size, size, 3) and ours.dtype == np.uint8
    assert np.abs(ours.astype(int) - np.asarray(reference).astype(int)).max() <= 2


def test_content_key_depends_only_on_bytes(tmp_path):
    data = image_bytes(make_image(1, 2))
    (tmp_path / "a.png").write_bytes(data)
    (tmp_path / "b.png").write_bytes(data)
    (tmp_path / "c.png").write_bytes(data + b"\0")
    assert content_key(tmp_path / "a.png") == content_key(tmp_path / "b.png")
    assert content_key(tmp_path / "a.png") != content_key(tmp_path / "c.png")
    assert len(content_key(tmp_path / "a.png")) == 32


def test_cache_stores_and_loads_resized_pixels(tmp_path):
    cache = ImageCache(tmp_path / "cache")
    path = save_image(make_image(2, 3, (48, 36)), tmp_path / "img.png")
    key = cache.ensure(path, 24)
    assert key == content_key(path) and cache.has(key, 24) and not cache.has(key, 32)
    stored = cache.load(key, 24)
    assert stored.dtype == np.uint8 and stored.shape == (24, 24, 3)
    assert np.array_equal(stored, resize_center_crop(load_rgb(path), 24))
    assert cache.original_size(key) == (48, 36)
    expected = tmp_path / "cache" / "pixels" / "24" / key[:2] / f"{key}.npy"
    assert cache.pixels_path(key, 24) == expected
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_cache_hit_does_not_decode_again(tmp_path, monkeypatch):
    cache = ImageCache(tmp_path / "cache")
    path = save_image(make_image(0, 4), tmp_path / "img.png")
    key = cache.ensure(path, 16)

    def refuse_to_decode(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(imagecache, "decode", refuse_to_decode)
    assert cache.ensure(path, 16) == key
    assert cache.ensure(path, 16, key=key) == key
    with pytest.raises(AssertionError):
        cache.ensure(path, 20)  # a new size does need a decode


def test_identical_files_share_one_entry(tmp_path):
    cache = ImageCache(tmp_path / "cache")
    data = image_bytes(make_image(1, 9))
    (tmp_path / "x.png").write_bytes(data)
    (tmp_path / "copy.png").write_bytes(data)
    assert cache.ensure(tmp_path / "x.png", 16) == cache.ensure(tmp_path / "copy.png", 16)
    assert len(list((tmp_path / "cache" / "pixels").rglob("*.npy"))) == 1


def test_exif_rotation_reaches_the_cache_with_upright_original_size(tmp_path):
    cache = ImageCache(tmp_path / "cache")
    path = write_jpeg_with_orientation(tmp_path / "r.jpg", make_image(0, 1, (60, 40)), 6)
    key = cache.ensure(path, 16)
    assert cache.original_size(key) == (40, 60)


def test_large_jpeg_uses_draft_and_stays_close(tmp_path, monkeypatch):
    path = save_image(make_image(2, 5, (1600, 1200)), tmp_path / "big.jpg")
    requested = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        requested.append(size)
        return real_draft(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    cache = ImageCache(tmp_path / "cache")
    key = cache.ensure(path, 64)
    assert requested and min(requested[-1]) >= 2 * 64  # decoded smaller, but not below 2x
    assert cache.original_size(key) == (1600, 1200)
    requested.clear()
    full = resize_center_crop(load_rgb(path), 64).astype(int)
    assert requested == []  # load_rgb alone always decodes at full size
    assert np.abs(cache.load(key, 64).astype(int) - full).mean() < 2.0


def test_load_stack_fills_one_array_in_order(tmp_path):
    cache = ImageCache(tmp_path / "cache")
    paths = [save_image(make_image(i % 3, i), tmp_path / f"{i}.png") for i in range(5)]
    keys = [cache.ensure(path, 12) for path in paths]
    stack = cache.load_stack(keys[::-1], 12)
    assert stack.shape == (5, 12, 12, 3) and stack.dtype == np.uint8
    for row, key in zip(stack, keys[::-1], strict=True):
        assert np.array_equal(row, cache.load(key, 12))
    assert cache.load_stack([], 12).shape == (0, 12, 12, 3)


def test_memory_does_not_grow_with_images_ingested(tmp_path):
    cache = ImageCache(tmp_path / "cache")
    paths = [save_image(make_image(i % 4, i, (64, 48)), tmp_path / f"{i}.png") for i in range(60)]
    for path in paths[:10]:
        cache.ensure(path, 32)  # warm up lazy imports and caches
    tracemalloc.start()
    for path in paths[10:20]:
        cache.ensure(path, 32)
    after_few = tracemalloc.get_traced_memory()[0]
    for path in paths[20:]:
        cache.ensure(path, 32)
    after_many = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after_many - after_few < 40_000  # 40 more images (12 KB of pixels each) left nothing


def test_load_rgb_reads_an_uploaded_file_object(tmp_path):
    import io

    from imagegen import image_bytes, make_image
    from tlcore.data.picture_file import load_rgb

    upload = io.BytesIO(image_bytes(make_image(0, 1, (30, 20))))
    assert load_rgb(upload).size == (30, 20)
    with pytest.raises(ImageProblem, match="empty file"):
        load_rgb(io.BytesIO(b""))
