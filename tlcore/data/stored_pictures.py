"""Pictures a run reads from the image cache a batch at a time, instead of all of them into memory.

Held in memory, the pixels cost 49 kB a picture at 128 px: 2.9 GB for Fashion-MNIST's 60,000
training pictures, in the worker that trains on them (measured by bench/cost_growth.py). Reading a
batch's files when the batch is drawn costs under a tenth of a millisecond a picture (and the next
batch is read while the current one trains), against the milliseconds its forward pass takes on a CPU; a GPU keeps the whole set in its own memory when it
fits (tlcore.data.batches.ArrayBatches), read here in slices.
"""
from __future__ import annotations

import numpy as np

from tlcore.data.imagecache import ImageCache


class StoredPictures:
    """An array-like uint8 [N, S, S, 3] whose rows stay in the image cache until indexed.

    Indexing (an integer, a slice, integer or boolean rows) reads those pictures and returns a
    numpy array, as indexing an array would; ``take(rows, axis=0)`` returns the chosen rows still
    unread, so a run's draw of a few pictures per class never loads the rest.
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, keys, cache: ImageCache, image_size: int):
        self._keys = np.asarray(keys, dtype=object)
        self._cache = cache
        self._size = image_size

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return len(self._keys), self._size, self._size, 3

    @property
    def nbytes(self) -> int:
        return len(self._keys) * self._size * self._size * 3

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, (int, np.integer)):
            return self._cache.load(self._keys[index], self._size)
        return self._cache.load_stack(list(self._keys[_rows(index, len(self))]), self._size)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        pictures = self[:]
        return pictures if dtype is None else pictures.astype(dtype)

    def take(self, rows, axis: int = 0) -> StoredPictures:
        """The chosen rows, still unread (numpy's take reads them: this is the lazy counterpart)."""
        if axis != 0:
            raise ValueError("only whole pictures (axis 0) can be taken")
        return StoredPictures(self._keys[_rows(rows, len(self))], self._cache, self._size)


def _rows(index, count: int):
    """A slice as it is, a boolean mask as the rows it keeps, anything else as integer rows."""
    if isinstance(index, slice):
        return index
    index = np.asarray(index)
    if index.dtype == bool:
        if len(index) != count:
            raise IndexError(f"a mask of {len(index)} for {count} pictures")
        return np.flatnonzero(index)
    return index.astype(np.int64, copy=False)
