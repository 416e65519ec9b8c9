"""Turn cached uint8 arrays into model-ready batches: normalize, augment, batch, move to the device.

Images arrive decoded and resized (imagecache), so a batch costs a copy and a few tensor ops,
never a JPEG decode.
"""
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F


def to_model_input(images: torch.Tensor, mean, std, device: torch.device) -> torch.Tensor:
    """uint8 NHWC -> normalized float NCHW in channels_last, which is the fast layout for convolutions on CPU and GPU."""
    x = images.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(std, device=device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def crop_draws(n: int, generator: torch.Generator, min_scale: float = 0.6) -> torch.Tensor:
    """The random numbers of n pictures' crops and flips: [n, 5] (area, log aspect, two shifts, flip)."""
    area = torch.empty(n).uniform_(min_scale, 1.0, generator=generator)
    log_ratio = torch.empty(n).uniform_(math.log(3 / 4), math.log(4 / 3), generator=generator)
    shift_x = torch.empty(n).uniform_(-1, 1, generator=generator)
    shift_y = torch.empty(n).uniform_(-1, 1, generator=generator)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    return torch.column_stack([area, log_ratio, shift_x, shift_y, flip])


def augment(x: torch.Tensor, generator: torch.Generator | None = None, min_scale: float = 0.6,
            draws: torch.Tensor | None = None) -> torch.Tensor:
    """Random resized crop and horizontal flip for a whole batch in one grid_sample.

    One affine warp per image keeps augmentation vectorized: on a CPU a per-image Python loop
    would cost more than the convolutions it feeds. draws: the batch's crop_draws, when they were
    drawn beforehand (the same crops whatever the batches); else drawn here from generator.
    """
    n = x.shape[0]
    draws = crop_draws(n, generator, min_scale) if draws is None else draws
    area, ratio, flip = draws[:, 0], draws[:, 1].exp(), draws[:, 4]
    scale_x = (area * ratio).sqrt().clamp(max=1.0)
    scale_y = (area / ratio).sqrt().clamp(max=1.0)
    shift_x = (1 - scale_x) * draws[:, 2]
    shift_y = (1 - scale_y) * draws[:, 3]
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = scale_x * flip
    theta[:, 0, 2] = shift_x
    theta[:, 1, 1] = scale_y
    theta[:, 1, 2] = shift_y
    theta = theta.to(x.device, x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return out.contiguous(memory_format=torch.channels_last)


# Images x height x width of one forward-only batch on a CPU. Activations of a batch this size stay
# in the processor's caches; MobileNetV2 at 128 px ran 1.8x faster in batches of 16 than of 64
# (measured on 2 Zen 5 cores), EfficientNet-Lite0 2.4x. Larger batches only pay on a GPU.
CPU_BATCH_PIXELS = 320_000
GPU_INFERENCE_BATCH = 64


def inference_batch_size(image_size: int, device: torch.device) -> int:
    """Images per forward-only batch (embeddings, validation): what keeps a CPU's caches warm, 64 on a GPU.

    Forward-only results do not depend on the batch (eval mode), so this is a speed choice alone.
    """
    if device.type != "cpu":
        return GPU_INFERENCE_BATCH
    return max(2, min(GPU_INFERENCE_BATCH, CPU_BATCH_PIXELS // (image_size * image_size)))


GPU_RESIDENT_FRACTION = 0.25  # hold a dataset on the GPU when it takes at most this share of free memory


BALANCE_RATIO = 2.0  # the largest class over the smallest beyond which "auto" balances


def should_balance(labels: np.ndarray, setting: str) -> bool:
    """Whether training draws classes evenly: always ("on"), never ("off"), or when the training
    pictures' largest class has more than BALANCE_RATIO times the smallest's ("auto")."""
    if setting != "auto":
        return setting == "on"
    counts = np.bincount(np.asarray(labels))
    counts = counts[counts > 0]
    return bool(len(counts) > 1 and counts.max() > BALANCE_RATIO * counts.min())


def block_of(count: int, rank: int, processes: int) -> tuple[int, int]:
    """A process's contiguous share [start, stop) of count rows, in rank order, sizes within one of each
    other: blocks gathered in rank order are the rows in their order."""
    return count * rank // processes, count * (rank + 1) // processes


class ArrayBatches:
    """Mini-batches over arrays (uint8 images or float embeddings), held in memory or read as drawn.

    inputs: a numpy array or tensor, or an array-like whose indexing reads the rows asked for
    (tlcore.data.stored_pictures: pictures left in the image cache until their batch). On a GPU the
    whole set moves to device memory once when it fits, so a batch is an index operation on the GPU;
    otherwise each batch goes through pinned host memory, whose copies overlap with compute.
    """

    def __init__(self, inputs, labels, batch_size: int, shuffle: bool, generator: torch.Generator | None = None,
                 device: torch.device | None = None, balanced: bool = False, share: tuple[int, int] | None = None):
        """balanced: each epoch draws its pictures with replacement, every class equally likely (a
        class-balanced sampler), instead of going once through a shuffled order.

        share: (rank, processes) when several processes train one run. A shuffled set then gives this
        process its share of every batch of the order all of them draw (the generator is the same on
        each): the global batch, the steps and the schedule stay those of one process. A set in order
        (validation) gives this process a contiguous block, so that blocks gathered in rank order are
        the set in its order. in_order() always goes through every sample.
        """
        self.share = share if share is not None and share[1] > 1 else None
        self.inputs = torch.from_numpy(np.ascontiguousarray(inputs)) if isinstance(inputs, np.ndarray) else inputs
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.draw_weights = None
        if balanced:
            counts = torch.bincount(self.labels).double()
            self.draw_weights = (1.0 / counts.clamp(min=1))[self.labels]
        self.pin = False
        if device is not None and device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            if self.inputs.nbytes <= GPU_RESIDENT_FRACTION * free:
                self.inputs = _on_device(self.inputs, device)
                self.labels = self.labels.to(device)
            else:
                self.pin = True

    def __len__(self) -> int:
        start, stop = self._block()
        return math.ceil((stop - start) / self.batch_size)

    @property
    def num_samples(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.draw_weights is not None:
            order = torch.multinomial(self.draw_weights, len(self.labels), replacement=True, generator=self.generator)
        else:
            order = torch.randperm(len(self.labels), generator=self.generator) if self.shuffle else None
        return self._batches(order, *self._block())

    def in_order(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Every sample once, in order: for a pass that must see each picture exactly once (prototypes)."""
        return self._batches(None, 0, len(self.labels))

    def _block(self) -> tuple[int, int]:
        """The rows this process goes through in order: all of them, or its block of a set shared in order."""
        count = len(self.labels)
        if self.share is None or self.shuffle or self.draw_weights is not None:
            return 0, count
        return block_of(count, *self.share)

    def _part(self, batch: torch.Tensor) -> torch.Tensor:
        """This process's part of a global batch: every processes-th row from its rank (never empty)."""
        if self.share is None:
            return batch
        rank, processes = self.share
        return batch[rank::processes] if len(batch) > rank else batch[-1:]

    def _batches(self, order: torch.Tensor | None, first: int, stop: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        starts = range(first, stop, self.batch_size)
        if order is None:
            indices = (slice(start, min(start + self.batch_size, stop)) for start in starts)
        else:
            indices = (self._part(order[start:start + self.batch_size]).to(self.labels.device) for start in starts)
        if isinstance(self.inputs, torch.Tensor):
            batches = ((self.inputs[index], self.labels[index]) for index in indices)
        else:
            batches = self._read_ahead(indices)
        for x, y in batches:
            yield (x.pin_memory(), y.pin_memory()) if self.pin else (x, y)

    def _read_ahead(self, indices) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Batches of a set read on demand, the next one read in a thread while this one trains: the
        reads (file system calls and copies, without the GIL) overlap the step instead of adding to it."""
        def read(index):
            rows = index.cpu().numpy() if isinstance(index, torch.Tensor) else index
            return torch.from_numpy(self.inputs[rows]), self.labels[index]

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tlcore-read-ahead") as reader:
            ahead = None
            for index in indices:
                current, ahead = ahead, reader.submit(read, index)
                if current is not None:
                    yield current.result()
            if ahead is not None:
                yield ahead.result()


RESIDENT_SLICE = 1024  # pictures read at a time while a set read on demand moves to the GPU


def _on_device(inputs, device: torch.device) -> torch.Tensor:
    """The whole set in device memory; a set read on demand goes up a slice at a time, never all in host memory."""
    if isinstance(inputs, torch.Tensor):
        return inputs.to(device)
    dtype = torch.from_numpy(np.empty(0, dtype=inputs.dtype)).dtype
    resident = torch.empty(tuple(inputs.shape), dtype=dtype, device=device)
    for start in range(0, len(inputs), RESIDENT_SLICE):
        resident[start:start + RESIDENT_SLICE] = torch.from_numpy(inputs[start:start + RESIDENT_SLICE]).to(device)
    return resident
