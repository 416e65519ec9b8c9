"""Runs as starting points: a finished run's body as the start of a new run, and the chain of
starting points behind every run (ImageNet -> run A -> run B).

A run started from another keeps that run's network (architecture and weights, BatchNorm
statistics included) and gets a new head for its own classes. The chain is written into the new
run's folder when it is made (started_from.json), so it still reads whole after the source run
is deleted; a model, once trained, never needs its source again.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from tlcore.config import ConfigError, RunConfig
from tlcore.data.imagecache import content_key
from tlcore.models.backbones import Backbone, get_spec, is_combined, member_names
from tlcore.models.weights import load_into_backbone
from tlcore.runs.store.notes import dataset_name, load_notes
from tlcore.runs.store.folder import RunFolder, resolve_runs_dir
from tlcore.training.strategies import get_strategy


# Why a run in each state cannot be built on, in words that finish "Run X ...".
_NOT_FINISHED = {"queued": "has not started yet", "running": "is still training", "failed": "failed",
                 "cancelled": "was cancelled", "interrupted": "was interrupted before it finished"}


@dataclass(frozen=True)
class SourceRun:
    """A finished run that a new run can start from."""

    run_dir: Path
    config: RunConfig
    classes: list[str]
    best_val_acc: float | None

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    def identity(self) -> str:
        """What makes features computed with its body the same: its model file's contents."""
        return content_key(RunFolder(self.run_dir).model_path)[:16]


def resolve_source(reference: str, runs_dir: str | Path | None = None) -> Path:
    """The run folder a reference names: a folder path, or a run id in the runs folder."""
    path = Path(reference).expanduser()
    if path.is_dir():
        return path.resolve()
    by_id = resolve_runs_dir(runs_dir) / reference
    if reference and Path(reference).name == reference and by_id.is_dir():
        return by_id.resolve()
    raise ConfigError(f"There is no run '{reference}' to start from; give a run id (as the Runs page lists "
                      "them) or a run folder.")


def check_source(run_dir: str | Path) -> SourceRun:
    """The run a new run starts from, or ConfigError saying in words why it cannot be built on."""
    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"The run to start from, {run_dir.name}, is no longer there (was it deleted?).")
    status = folder.read_status()
    state = status["state"]
    if state != "succeeded":
        raise ConfigError(f"Run {run_dir.name} {_NOT_FINISHED.get(state, state)}; only a finished run can be "
                          "started from.")
    try:
        config = folder.load_config()
    except (OSError, ValueError) as error:
        raise ConfigError(f"Run {run_dir.name}'s settings cannot be read ({error}), so it cannot be started "
                          "from.") from None
    if not folder.has_model():
        raise ConfigError(f"Run {run_dir.name} holds no trained model ({folder.MODEL}), so it cannot be started from.")
    accuracy = status.get("best_val_acc")
    return SourceRun(run_dir, config, folder.load_labels(), accuracy if isinstance(accuracy, (int, float)) else None)


def check_start(config: RunConfig) -> SourceRun | None:
    """Refuse a config whose starting run cannot be used; the source run, or None without one."""
    if not config.init_from:
        return None
    source = check_source(config.init_from)
    if is_combined(source.config.backbone):
        raise ConfigError(f"Run {source.run_id} combines several networks ({_title(source.config.backbone)}); a run "
                          "starts from one network. Start from a run of one network, or name the networks to "
                          "combine one by one.")
    if source.config.backbone != config.backbone:
        theirs, asked = _title(source.config.backbone), _title(config.backbone)
        raise ConfigError(f"Run {source.run_id} is a {theirs} network; a run started from it keeps that network, "
                          f"so its backbone must be {theirs}, not {asked}.")
    return source


def check_members(config: RunConfig) -> list[SourceRun | None]:
    """For networks combined, each member's starting run (None: the registry's weights), checked."""
    members = []
    names = member_names(config.backbone)
    for name, reference in zip(names, config.member_runs or [""] * len(names)):
        if not reference:
            members.append(None)
            continue
        source = check_source(reference)
        if source.config.backbone != name:
            raise ConfigError(f"Run {source.run_id} is a {_title(source.config.backbone)} network, not the "
                              f"{_title(name)} it was combined as.")
        members.append(source)
    return members


def _title(backbone: str) -> str:
    try:
        return get_spec(backbone).title
    except ValueError:
        return backbone


def load_source_body(backbone: Backbone, source: SourceRun) -> None:
    """Fill a backbone with the body a checked source run trained (its head is left behind)."""
    try:
        payload = torch.load(RunFolder(source.run_dir).model_path, map_location="cpu", weights_only=True)
        state = payload["state_dict"]
    except Exception as error:  # noqa: BLE001 - cut short, unpickling, not a checkpoint: one meaning
        raise ConfigError(f"Run {source.run_id}'s model file cannot be read ({type(error).__name__}), so it "
                          "cannot be started from.") from None
    load_into_backbone(backbone, state, origin=f"run {source.run_id}")


def origin_step(config: RunConfig) -> dict:
    """Where a run's network came from when it did not start from a run."""
    if config.weights_file:
        return {"kind": "weights_file", "backbone": config.backbone, "file": Path(config.weights_file).name}
    try:
        pretrained = get_strategy(config.strategy).pretrained
    except ValueError:
        pretrained = True
    return {"kind": "imagenet" if pretrained else "random", "backbone": config.backbone}


def run_step(source: SourceRun) -> dict:
    """A source run as a step of a chain: enough to name it after it is deleted."""
    return {"kind": "run", "run_id": source.run_id, "name": load_notes(source.run_dir).name or source.config.name,
            "dataset": dataset_name(source.config), "strategy": source.config.strategy,
            "classes": source.classes, "best_val_acc": source.best_val_acc}


def started_from(run_dir: str | Path, config: RunConfig | None = None) -> list[dict]:
    """The chain of starting points behind a run, oldest first (the run itself not included)."""
    chain = RunFolder(run_dir).read_json(RunFolder.STARTED_FROM)
    if isinstance(chain, list) and chain and all(isinstance(step, dict) and "kind" in step for step in chain):
        return chain
    if config is None:
        try:
            config = RunFolder(run_dir).load_config()
        except (OSError, ValueError):
            return []
    return [origin_step(config)]


def chain_through(source: SourceRun) -> list[dict]:
    """The chain behind a source run, the source included: what a run started from it builds on."""
    return [*started_from(source.run_dir, source.config), run_step(source)]


def new_chain(config: RunConfig, source: SourceRun | None) -> list[dict]:
    """The chain a new run keeps in its folder; networks combined are one step naming each member's start."""
    if is_combined(config.backbone):
        members = zip(member_names(config.backbone), check_members(config))
        return [{"kind": "combined", "members": [
            run_step(source) if source else origin_step(config.replace(backbone=name, member_runs=[]))
            for name, source in members]}]
    return chain_through(source) if source else [origin_step(config)]
