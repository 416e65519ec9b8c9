"""Pictures read from the image cache a batch at a time: the same pixels as reading them all, and a
run never holds more than a batch of them."""
import numpy as np
import pytest
import torch

from tlcore import paths, runs
from tlcore.config import RunConfig
from tlcore.data import batches
from tlcore.data.batches import ArrayBatches
from tlcore.data.decoding import SamplePictures, load_sample_arrays
from tlcore.data.imagecache import ImageCache
from tlcore.data.scan import scan
from tlcore.runs.execution.worker import execute_run


@pytest.fixture
def stored(shapes, home):
    cache = ImageCache(paths.cache_dir())
    manifest = scan(shapes, cache=cache, image_size=32)
    samples = manifest.samples
    return SamplePictures(samples, cache, 32).array, load_sample_arrays(samples, cache, 32)[0]


def test_indexing_reads_the_same_pixels_as_loading_them_all(stored):
    pictures, loaded = stored
    assert pictures.shape == loaded.shape and len(pictures) == len(loaded) and pictures.nbytes == loaded.nbytes
    assert np.array_equal(pictures[3], loaded[3])
    assert np.array_equal(pictures[2:9], loaded[2:9])
    rows = np.array([7, 0, 7, 12])
    assert np.array_equal(pictures[rows], loaded[rows])
    mask = np.arange(len(loaded)) % 3 == 0
    assert np.array_equal(pictures[mask], loaded[mask])
    assert np.array_equal(np.asarray(pictures), loaded)


def test_taken_rows_stay_unread_until_indexed(stored):
    pictures, loaded = stored
    chosen = pictures.take([5, 1], axis=0)
    for key in pictures._keys[[0, 2, 3]]:  # pictures not chosen may go: the chosen ones never needed them
        pictures._cache.pixels_path(key, 32).unlink()
    assert np.array_equal(chosen[:], loaded[[5, 1]])
    with pytest.raises(ValueError):
        pictures.take([0], axis=1)


def test_batches_over_stored_pictures_equal_batches_over_the_array(stored):
    pictures, loaded = stored
    labels = np.arange(len(loaded)) % 3
    for balanced in (False, True):
        lazily = ArrayBatches(pictures, labels, 4, True, torch.Generator().manual_seed(1), balanced=balanced)
        eagerly = ArrayBatches(loaded, labels, 4, True, torch.Generator().manual_seed(1), balanced=balanced)
        for (x, y), (x_all, y_all) in zip(lazily, eagerly, strict=True):
            assert torch.equal(x, x_all) and torch.equal(y, y_all)
    in_order = torch.cat([x for x, _ in ArrayBatches(pictures, labels, 4, False).in_order()])
    assert torch.equal(in_order, torch.from_numpy(loaded))


@pytest.mark.parametrize("strategy", ["feature_extraction", "fine_tune"])
def test_a_run_reads_its_pictures_a_batch_at_a_time(shapes, home, monkeypatch, strategy):
    """What keeps a worker's memory flat as the dataset grows: no read of more pictures than a batch."""
    most = []
    load_stack = ImageCache.load_stack

    def counted(self, keys, size):
        most.append(len(keys))
        return load_stack(self, keys, size)
    monkeypatch.setattr(ImageCache, "load_stack", counted)
    monkeypatch.setattr(batches, "CPU_BATCH_PIXELS", 6 * 32 * 32)  # forward-only batches of 6 pictures
    config = RunConfig(data=str(shapes), image_size=32, batch_size=4, strategy=strategy, epochs=1, head_epochs=1)
    status = execute_run(runs.create_run(config))
    assert status["state"] == "succeeded", status.get("error")
    assert sum(most) >= 30 and max(most) <= 6  # every picture read, never more than a batch at once


def test_a_stored_array_of_another_layout_is_still_read_right(stored):
    """Rows are filled straight from the files' bytes when the layout allows; any other layout goes
    through np.load, and a damaged file is refused as np.load refuses it."""
    pictures, loaded = stored
    cache, key = pictures._cache, pictures._keys[0]
    np.save(cache.pixels_path(key, 32), np.asfortranarray(loaded[0]))
    assert np.array_equal(cache.load_stack([key], 32)[0], loaded[0])
    cache.pixels_path(key, 32).write_bytes(cache.pixels_path(key, 32).read_bytes()[:200])
    with pytest.raises(ValueError):
        cache.load_stack([key], 32)
