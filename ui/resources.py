"""Engine objects the app holds across reruns and sessions: the runner, the device, predictors, measurements.

The engine's modules bring torch, a few seconds to import. They are imported where first used, so the
home page draws without them; meanwhile a background thread imports them (ui.engine). The runner starts
at once (start_engine, from the frame and the sidebar's timer): it needs torch only to place a run.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from tlcore import paths
from ui.engine import engine_ready, preload_engine
from ui.people import class_name

if TYPE_CHECKING:
    from tlcore.report.estimate import Throughput
    from tlcore.runs.supervision.runner import Runner
    from tlcore.serve.explain import Explainer
    from tlcore.serve.predictor import Predictor

SESSION_MEASUREMENTS = "measured_throughputs"


def start_engine() -> None:
    """The runner, and the engine's import in the background: the first page does not wait for torch,
    and the runner (which needs torch only to place a run on its device) starts at once, so its warm
    worker imports torch in its own process while this one does, before the first Start is pressed."""
    if not engine_ready():
        preload_engine()
    get_runner()


def get_runner() -> Runner:
    """The app's one runner for the current studio home, started on first use."""
    return _runner_for(str(paths.runs_dir()))


@st.cache_resource(show_spinner=False, on_release=lambda runner: runner.stop())
def _runner_for(runs_dir: str) -> Runner:
    # Keyed on the runs folder: another TLSTUDIO_HOME (a test, a second studio) gets its own runner.
    # "Clear cache" drops it; the queue lives on disk, so the next runner picks up where it left.
    # Between dispatches it moves experiments on (a restart's interrupted runs and cells that waited
    # for a source run are queued with nobody on the Experiments page) and scores a class's runs.
    from tlcore.runs.supervision.runner import Runner

    return Runner(runs_dir, between_ticks=_between_dispatches).start()


def _between_dispatches(runner: Runner) -> None:
    """Experiments moved on; on a class server, the next finished run scored on the teacher's test set."""
    from tlcore.runs.experiments.queue import advance_experiments

    advance_experiments(runner.submit, runner.runs_dir)
    name = class_name()
    if name is not None:
        from tlcore.classroom.leaderboard import score_waiting
        from tlcore.people.roster import TEACHER_NAME, member_person, roster_or_none

        roster = roster_or_none(name)
        if roster is not None:  # the join page says when the class is missing; nothing to score then
            score_waiting(name, member_person(roster, TEACHER_NAME), runner.runs_dir)


@st.cache_resource(show_spinner=False)
def device_info() -> dict:
    """What "auto" trains on here: {"kind", "name", "memory_gb", "threads", "amp", "label"}."""
    from tlcore.device import configure_cpu_threads, describe_device, resolve_device

    configure_cpu_threads()  # the same thread count a worker uses, so the label tells the truth
    return describe_device(resolve_device("auto"))


@st.cache_resource(show_spinner=False)
def device_choices() -> list[str]:
    """The device settings that work here: auto and cpu always, cuda/mps where present."""
    from tlcore.device import resolve_device

    choices = ["auto", "cpu"]
    for kind in ("cuda", "mps"):
        try:
            resolve_device(kind)
            choices.append(kind)
        except ValueError:
            pass
    return choices


def gpu_count() -> int:
    """The CUDA GPUs this machine shows (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@st.cache_data(ttl=300, show_spinner="Checking which pretrained weights are available…")
def weights_table() -> dict[str, dict]:
    """Backbone name -> {"available", "source", "detail"}; rechecked every few minutes."""
    from tlcore.models.backbones import list_backbones
    from tlcore.models.weights import weights_status

    table = {}
    for spec in list_backbones():
        status = weights_status(spec.name)
        table[spec.name] = {"available": status.available, "source": status.source, "detail": status.detail}
    return table


def known_throughput(backbone: str, image_size: int, device: str, train: bool) -> Throughput | None:
    """A measurement this machine already has (kept on disk), or one this session made; else None."""
    from tlcore.report.estimate import recalled_throughput

    made_here = st.session_state.get(SESSION_MEASUREMENTS, {}).get((backbone, image_size, device, train))
    return made_here or recalled_throughput(backbone, image_size, device, train=train)


def measure(backbone: str, image_size: int, device: str, train: bool) -> Throughput:
    """Measure a backbone here now (a few seconds), unless this machine knows its speed already.

    While a run trains, the figure would be too slow: it is then kept for this session only.
    """
    from tlcore.report.estimate import recall_or_measure

    rate = recall_or_measure(backbone, image_size, device, train=train, remember=not get_runner().active())
    st.session_state.setdefault(SESSION_MEASUREMENTS, {})[(backbone, image_size, device, train)] = rate
    return rate


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def predictor(run_dir: str, model_mtime: float) -> Predictor:
    """A run's best model, loaded once (the file's time in the key reloads a rewritten model)."""
    from tlcore.serve.predictor import Predictor

    return Predictor(run_dir)


@st.cache_resource(max_entries=2, show_spinner="Loading the model to explain it…")
def explainer(run_dir: str, model_mtime: float) -> Explainer:
    """A run's best model for Grad-CAM, loaded once (its own copy: the library hooks its layers)."""
    from tlcore.serve.explain import Explainer

    return Explainer.from_run(run_dir)
