"""Every strategy's plan with every head, on a small random network: what trains, at which rate, with which
BatchNorm statistics, and that one step moves exactly that. No pictures are read and no run is made, so a
plan that trains the wrong thing fails here in a second instead of in a full run."""
import itertools

import pytest
import torch
from torch import nn

from tlcore.config import RunConfig
from tlcore.models.backbones import build_backbone
from tlcore.models.classifier import Classifier
from tlcore.models.heads import list_heads
from tlcore.training.kept_state import KeptState, changing_keys
from tlcore.training.loop import StepModule, set_phase_modes, training_step
from tlcore.training.optimizers import make_optimizer
from tlcore.training.strategies import BODY_LR_FACTOR, PlanInputs, get_strategy, list_strategies

CLASSES = 3
SIDE = 32
BACKBONE = "mobilenet_v2"
CASES = list(itertools.product([s.name for s in list_strategies()], [h.name for h in list_heads()]))


def planned(strategy: str, head: str, inputs: dict | None = None, **config_fields):
    torch.manual_seed(0)
    model = Classifier(build_backbone(BACKBONE), CLASSES, head)
    config = RunConfig(data=".", backbone=BACKBONE, strategy=strategy, head=head, epochs=2, head_epochs=1,
                       **config_fields)
    phases = get_strategy(strategy).plan(model, config, PlanInputs(**(inputs or {})))
    return model, config, phases


def ids(parameters) -> set[int]:
    return {id(p) for p in parameters}


def stepped(phase) -> set[int]:
    return ids(p for group in phase.param_groups for p in group["params"])


@pytest.mark.parametrize("strategy, head", CASES)
def test_each_plan_steps_only_what_its_phase_trains(strategy, head):
    model, config, phases = planned(strategy, head)
    spec = get_strategy(strategy)
    assert phases and all(phase.epochs >= 1 for phase in phases)
    backbone = ids(model.backbone.parameters())
    for phase in phases:
        groups = stepped(phase)
        trained = ids(p for module in phase.train_modules for p in module.parameters())
        assert groups <= trained, f"{phase.name}: a parameter is stepped whose module stays in eval mode"
        assert ids(phase.head.parameters()) <= groups
        if phase.inputs == "embeddings":
            assert not groups & backbone, "a phase on cached features must leave the network alone"
    last = phases[-1]
    if spec.trains_body:
        assert last.inputs == "images" and backbone <= stepped(last)
        requires = ids(p for p in model.backbone.parameters() if p.requires_grad)
        assert requires == backbone
    else:
        assert [phase.inputs for phase in phases] == ["embeddings"]
        assert not any(p.requires_grad for p in model.backbone.parameters())
    if spec.warm_up:
        assert phases[0].inputs == "embeddings" and phases[0].epochs == config.head_epochs


@pytest.mark.parametrize("strategy", [s.name for s in list_strategies() if s.trains_body and s.pretrained])
def test_a_pretrained_body_learns_ten_times_slower_than_its_head(strategy):
    _, config, phases = planned(strategy, "linear")
    head_group, body_group = phases[-1].param_groups[:2]
    assert body_group["lr"] == pytest.approx(head_group["lr"] * BODY_LR_FACTOR)


@pytest.mark.parametrize("strategy", [s.name for s in list_strategies() if s.trains_body and s.pretrained])
def test_unfreezing_the_last_stages_leaves_the_others_fixed(strategy):
    model, _, phases = planned(strategy, "linear", unfreeze_stages=2)
    stages = model.backbone.stages()
    for stage in stages[:-2]:
        assert not any(p.requires_grad for p in stage.parameters())
    unfrozen = ids(p for stage in stages[-2:] for p in stage.parameters())
    assert stepped(phases[-1]) & ids(model.backbone.parameters()) == unfrozen


@pytest.mark.parametrize("strategy", [s.name for s in list_strategies()])
def test_batchnorm_statistics_move_only_where_the_strategy_says(strategy):
    model, _, phases = planned(strategy, "linear")
    set_phase_modes(model, phases[-1])
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.training == get_strategy(strategy).trains_norm_stats for m in norms)


@pytest.mark.parametrize("strategy", [s.name for s in list_strategies()])
def test_one_step_of_the_last_phase_moves_exactly_what_it_trains(strategy):
    model, _, phases = planned(strategy, "linear", inputs={"joint_classes": 2})
    phase = phases[-1]
    set_phase_modes(model, phase)
    width = SIDE if phase.inputs == "images" else model.backbone.spec.feature_dim
    batch = (torch.rand(4, 3, width, width) if phase.inputs == "images" else torch.randn(4, width))
    streams = {name: batch.clone() for name in phase.streams}
    stream_labels = {name: torch.tensor([0, 1, 0, 1]) for name in phase.streams}
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    state_before = {key: value.clone() for key, value in model.state_dict().items()}  # buffers too
    loss, _, _ = training_step(StepModule(phase), batch, torch.tensor([0, 1, 2, 0]), streams,
                               make_optimizer(phase), None, progress=0.5,
                               autocast=torch.autocast("cpu", enabled=False), stream_labels=stream_labels)
    assert torch.isfinite(loss)
    groups = stepped(phase)
    for name, p in model.named_parameters():
        moved = not torch.equal(before[name], p.detach())
        if id(p) not in groups:
            assert not moved, f"{name} moved but its phase does not train it"
    assert any(not torch.equal(before[n], p.detach()) for n, p in model.head.named_parameters(prefix="head"))
    moved = {key for key, value in model.state_dict().items() if not torch.equal(state_before[key], value)}
    assert moved <= changing_keys(model, phase), "the kept weights would miss what moved"
    if phase.streams:  # the joint task (and alignment's domain classifier) train in the same step
        assert set(phase.streams) >= {"joint"} and len(phase.terms) >= 1


def test_a_second_labelled_dataset_adds_a_head_of_its_own_to_every_phase_on_pictures():
    for spec in list_strategies():
        _, _, phases = planned(spec.name, "linear", inputs={"joint_classes": 4})
        for phase in phases:
            if phase.inputs == "images":
                assert "joint" in phase.streams
                task = next(t for t in phase.terms if getattr(t, "stream", None) == "joint")
                assert ids(task.parameters()) <= stepped(phase)
            else:
                assert "joint" not in phase.streams


@pytest.mark.parametrize("strategy", [s.name for s in list_strategies()])
def test_the_kept_weights_copy_anew_all_that_a_phase_changes_and_the_rest_once(strategy):
    model, _, phases = planned(strategy, "linear")
    for phase in phases:
        changing = changing_keys(model, phase)
        assert {n for n, p in model.named_parameters() if id(p) in stepped(phase)} <= changing
        if not phase.freeze_norm_stats:
            assert {n for n, _ in model.named_buffers() if "running_" in n} <= changing
        kept = KeptState(model, phase)
        first = kept.take()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(1.0)
        second = kept.take()
        state = model.state_dict()
        assert second.keys() == state.keys()
        for key, value in second.items():
            assert torch.equal(value, state[key] if key in changing else first[key])
    if strategy == "feature_extraction":
        assert changing == {f"head.{name}" for name in model.head.state_dict()}
