"""How far a run is and how long it has left, counted in the work it does rather than in rounds.

A run's parts cost very different amounts: one pass of every picture through the backbone to
compute features, warm-up rounds on those features (a step costs about a hundredth of a real
one), and rounds that train through the whole network (forward and backward: about three passes
per picture), each followed by validation. Counting rounds left the bar at 1% after five rounds
of eight, because the five were the nearly free warm-up. Counted in work, the bar moves at the
pace time does, and never backwards. The time left is measured, per kind of work, as the run goes,
and smoothed so it does not jump; until there is a measurement for what is left it is unknown.
"""
from __future__ import annotations

import time

from tlcore.training.passes import PRECISE_NORM_IMAGES  # re-averaging BatchNorm statistics is a forward pass too

FORWARD = 1.0  # one picture through the network, no gradient
TRAIN_STEP = 3.0  # one picture forward and backward
FEATURE_STEP = 0.01  # one picture's step on cached features
SMOOTHING = 0.3  # share of a new estimate in the time left shown; the rest follows the clock
FEATURES, EMBEDDINGS, IMAGES = "features", "embeddings", "images"


class WorkMeter:
    """Progress and time left of a run, fed by its events (tlcore.training.events)."""

    def __init__(self, train_images: int = 0, val_images: int = 0, target_images: int = 0):
        self.train_images, self.val_images, self.target_images = train_images, val_images, target_images
        self.planned: dict[str, float] = {}  # work per kind still expected, done included
        self.done: dict[str, float] = {}
        self.seconds: dict[str, float] = {}  # time spent on each kind, for its rate
        self.phases: list = []
        self.phase_index = 0
        self.round_in_phase = 0
        self.steps = 1
        self.total_epochs = 0
        self.fit_started = time.perf_counter()
        self._last_tick = self.fit_started
        self._fraction = 0.0
        self._eta: tuple[float, float] | None = None  # (seconds left, when said)
        self._features_by_split: dict[str, int] = {}
        self.extra_features = 0  # pictures described besides each set once: varied copies, mirror images

    # -- the plan -------------------------------------------------------------------------------
    def epoch_work(self, phase) -> tuple[float, float]:
        """(training part, validation part) of one round of this phase, in work units.

        Each extra stream (target pictures) pairs one of its batches with each training batch; the
        held-out pictures are the validation set and the target, checked after every round.
        """
        held_out = self.val_images + self.target_images
        if phase.inputs == EMBEDDINGS:
            return self.train_images * FEATURE_STEP, held_out * FEATURE_STEP
        norms = 0 if phase.freeze_norm_stats else min(PRECISE_NORM_IMAGES, self.train_images) * FORWARD
        streams = 1 + len(getattr(phase, "streams", ()))
        return self.train_images * TRAIN_STEP * streams, held_out * FORWARD + norms

    def on_fit_start(self, phases, total_epochs):
        self.phases, self.total_epochs = list(phases), total_epochs
        self.fit_started = self._last_tick = time.perf_counter()
        if any(p.inputs == EMBEDDINGS and p.epochs for p in self.phases):
            self.planned[FEATURES] = (self.train_images + self.val_images + self.target_images
                                      + self.extra_features) * FORWARD
        self._plan_from(0)

    def _plan_from(self, index: int) -> None:
        """What is left is the phases from ``index`` on, in full; earlier ones count as they ran."""
        for kind in (EMBEDDINGS, IMAGES):
            self.planned[kind] = self.done.get(kind, 0.0)
        for phase in self.phases[index:]:
            train, val = self.epoch_work(phase)
            self.planned[phase.inputs] = self.planned.get(phase.inputs, 0.0) + phase.epochs * (train + val)

    # -- the work as it is done ----------------------------------------------------------------
    def _add(self, kind: str, work: float) -> None:
        now = time.perf_counter()
        self.done[kind] = self.done.get(kind, 0.0) + work
        self.seconds[kind] = self.seconds.get(kind, 0.0) + (now - self._last_tick)
        self._last_tick = now

    def on_run_data(self, data, config) -> None:
        """The pictures the run trains, validates and checks on, known once the data is read (before the
        fit), and the pictures its feature pass describes besides (varied copies, mirror images)."""
        self.train_images, self.val_images, self.target_images, self.extra_features = \
            data.pictures_described(config)

    def on_features(self, done: int, total: int, split: str) -> None:
        """The feature pass moved: ``done`` of ``total`` pictures of one split have their features."""
        previous = self._features_by_split.get(split, 0)
        self._features_by_split[split] = done
        self._add(FEATURES, (done - previous) * FORWARD)

    def on_phase_start(self, phase, index, steps_per_epoch, **_):
        if FEATURES in self.planned:  # features cached from an earlier run: that work needed no doing
            self.done[FEATURES] = max(self.done.get(FEATURES, 0.0), self.planned[FEATURES])
        self.phase_index, self.round_in_phase, self.steps = index, 0, max(steps_per_epoch, 1)
        self._plan_from(index)  # an earlier phase that stopped early gave back its unused rounds
        self._last_tick = time.perf_counter()  # preparing the phase's data is not a step

    def on_batch_end(self, phase=None, **_):
        phase = phase or self.phases[self.phase_index]
        self._add(phase.inputs, self.epoch_work(phase)[0] / self.steps)

    def on_epoch_end(self, phase=None, **_):
        phase = phase or self.phases[self.phase_index]
        self.round_in_phase += 1
        self._add(phase.inputs, self.epoch_work(phase)[1])

    # -- what it says ----------------------------------------------------------------------------
    @property
    def fraction(self) -> float:
        """Share of the planned work done; never goes down."""
        total = sum(self.planned.values())
        if total > 0:
            self._fraction = max(self._fraction, min(sum(self.done.values()) / total, 1.0))
        return self._fraction

    def eta(self) -> float | None:
        """Seconds left, smoothed; None while some work left has no measured pace to go by."""
        left = 0.0
        for kind, planned in self.planned.items():
            remaining = planned - self.done.get(kind, 0.0)
            if remaining <= 1e-9:
                continue
            rate = self._rate(kind)
            if rate is None:
                return None
            left += remaining * rate
        now = time.perf_counter()
        if self._eta is not None:
            said, when = self._eta
            left = (1 - SMOOTHING) * max(said - (now - when), 0.0) + SMOOTHING * left
        self._eta = (left, now)
        return round(left, 1)

    def _rate(self, kind: str) -> float | None:
        """Seconds per work unit of this kind; a training step's pace is unknown until one was timed,
        except that a forward pass measured by the feature pass tells it."""
        for source in ((kind,) if kind != IMAGES else (IMAGES, FEATURES)):
            if self.done.get(source, 0.0) > 0 and self.seconds.get(source, 0.0) > 0:
                return self.seconds[source] / self.done[source]
        if kind == EMBEDDINGS:
            return 0.0  # steps on cached features take milliseconds
        return None

    def progress(self, step: int | None = None) -> dict:
        """The run's progress as status.json keeps it (see ui.progress for the words)."""
        phase = self.phases[self.phase_index] if self.phases else None
        return {"fraction": round(self.fraction, 4), "eta_s": self.eta(),
                "phase": phase.name if phase else None, "phase_index": self.phase_index,
                "phases": len(self.phases), "round": self.round_in_phase + (step is not None),
                "rounds": phase.epochs if phase else 0, "step": step, "steps": self.steps}
