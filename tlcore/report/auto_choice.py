"""Best model in N minutes: the candidates a time budget allows, planned from measured speeds, trained
as an ordinary experiment (one run each, one validation set), and the best chosen by validation accuracy.

The search is cheap where it can be: feature extraction on every network whose weights are here,
with the default last layer and the solved one (the features are computed once for both), then
varied copies and fine-tuning on the default network if the budget still allows them. Candidates run
cheapest first; one the budget cannot hold is left out and said. What was chosen, and why, is said in words (choice()).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields

from tlcore.config import RunConfig
from tlcore.errors import InputError
from tlcore.data.manifest import Manifest
from tlcore.models.backbones import get_spec, list_backbones
from tlcore.models.heads import get_head
from tlcore.report.estimate import Throughput, estimate_seconds, feature_pass_s
from tlcore.runs.experiments.grid import ALL, Arm, Experiment, ended_states, new_experiment, results
from tlcore.training.strategies import get_strategy
from tlcore.people.person import LOCAL, Person

MIN_MINUTES, MAX_MINUTES = 1, 60
# The solved last layer's cross-validated fit, per 1,000 training pictures (measured: 0.5 s at 200).
SOLVE_S_PER_1000 = 3.0
# Varied copies and fine-tuning run on the studio's default network: among the quickest to train, and
# the one their defaults were measured on (docs/benchmarks.md, issue 17).
DEFAULT_NETWORK = next(f.default for f in fields(RunConfig) if f.name == "backbone")
COPIES = 4  # varied copies of each training picture (measured: they help most with few pictures)
# Fine-tuning as a candidate: the studio's defaults (ten body epochs with crops and flips improved on
# the warm-up on every set measured; a solved warm-up or no crops did not: docs/benchmarks.md, issue 17).
FINE_TUNE_OVERRIDES: dict = {}


@dataclass
class AutoPlan:
    arms: list[Arm]
    seconds: dict[str, float]  # arm label -> estimated seconds
    left_out: list[str] = field(default_factory=list)  # candidates the budget cannot hold, in words
    budget_s: float = 0.0

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())


def candidates(available: Callable[[str], bool], image_size: int = RunConfig.image_size) -> list[Arm]:
    """What the search tries, cheapest kinds first: on every network whose weights are here, feature
    extraction with the default last layer and with the solved one (the second reuses the first's
    features); on the default network, feature extraction with varied copies, then fine-tuning."""
    arms = []
    for spec in list_backbones():
        fits = spec.min_image_size <= image_size and spec.fixed_image_size in (None, image_size)
        if available(spec.name) and fits:
            arms.append(Arm(f"Feature extraction · {spec.title}", "feature_extraction", spec.name))
            arms.append(Arm(f"Feature extraction · {spec.title} · solved last layer", "feature_extraction",
                            spec.name, {"head": "logistic"}))
    if available(DEFAULT_NETWORK):
        title = get_spec(DEFAULT_NETWORK).title
        arms.append(Arm(f"Feature extraction · {title} · {COPIES} varied copies", "feature_extraction",
                        DEFAULT_NETWORK, {"augment_views": COPIES}))
        arms.append(Arm(f"Fine-tuning · {title}", "fine_tune", DEFAULT_NETWORK, dict(FINE_TUNE_OVERRIDES)))
    return arms


def plan(manifest: Manifest, minutes: float, *, available: Callable[[str], bool],
         throughput: Callable[[str, bool], Throughput]) -> AutoPlan:
    """The candidates that fit in the budget, cheapest feature extraction first, fine-tuning last.

    Args:
        available: whether a network's pretrained weights can be had here (no download is started).
        throughput: the measured speed of a network (and of its training steps, when True) at the size.
    Raises ValueError for a budget out of range or when no network's weights are here.
    """
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise InputError(f"The time for the automatic choice is {MIN_MINUTES} to {MAX_MINUTES} minutes, not {minutes:g}.")
    image_size = manifest.image_size or RunConfig.image_size
    arms = candidates(available, image_size)
    if not arms:
        raise InputError("No pretrained network's weights are on this computer, so there is nothing to choose among; "
                         "fetch one on the Train page first.")
    counts = manifest.counts().values()
    train_images = sum(c["train"] for c in counts)
    val_images = sum(c["val"] for c in counts)

    def estimate(arm: Arm) -> float:
        spec = get_strategy(arm.strategy)
        epochs = arm.overrides.get("epochs", spec.default_epochs)
        return estimate_seconds(throughput(arm.backbone, spec.trains_body), arm.strategy, epochs=epochs,
                                train_images=train_images, val_images=val_images, head_epochs=1,
                                augment_views=arm.overrides.get("augment_views", 0))

    estimates, described = {}, set()  # described: networks whose plain features an earlier arm cached
    for arm in arms:  # a later arm on the same network finds them cached: their pass is not counted twice
        seconds = estimate(arm)
        if not get_strategy(arm.strategy).trains_body and arm.backbone in described:
            seconds -= feature_pass_s(throughput(arm.backbone, False), train_images + val_images)
        if get_head(arm.overrides.get("head", RunConfig.head)).solved:
            seconds += SOLVE_S_PER_1000 * train_images / 1000
        described.add(arm.backbone)
        estimates[arm.label] = round(max(seconds, 1.0), 1)
    # Quickest networks first, each network's arms together and in their order (the first describes the
    # pictures, the next ones find the features cached), varied copies and fine-tuning last.
    first_seen = {}
    for index, arm in enumerate(arms):
        first_seen.setdefault(arm.backbone, (estimates[arm.label], index))
    ordered = sorted(arms, key=lambda arm: (get_strategy(arm.strategy).trains_body or "augment_views" in arm.overrides,
                                            first_seen[arm.backbone], arms.index(arm)))
    budget = minutes * 60
    chosen, left_out, spent = [], [], 0.0
    for arm in ordered:
        if chosen and spent + estimates[arm.label] > budget:
            left_out.append(f"{arm.label} (about {estimates[arm.label]:.0f} s more than the "
                            f"{max(budget - spent, 0):.0f} s left)")
            continue
        chosen.append(arm)  # the cheapest candidate always runs, even past the budget: there is no choice without it
        spent += estimates[arm.label]
    return AutoPlan(chosen, {a.label: estimates[a.label] for a in chosen}, left_out, budget)


def start(manifest: Manifest, auto: AutoPlan, minutes: float, *, base: dict, dataset_label: str,
          driver: str, owner: Person = LOCAL) -> Experiment:
    """The plan as an experiment for its owner: one run per candidate on every training picture, seed 0."""
    return new_experiment(manifest, arms=auto.arms, sizes=[ALL], seeds=1, base=base, owner=owner,
                          name=f"Best model in {minutes:g} minutes", dataset_label=dataset_label, driver=driver,
                          auto={"minutes": minutes, "estimates": auto.seconds, "left_out": auto.left_out})


def choice(experiment: Experiment, runs_dir=None) -> dict | None:
    """The best finished candidate and why, in words; None until one has succeeded.

    Returns: {"run_id", "arm", "best_val_acc", "seconds", "finished", "why"}.
    """
    every = results(experiment, runs_dir)
    rows = [r for r in every if r["state"] == "succeeded" and r["best_val_acc"] is not None]
    if not rows:
        return None
    best = max(rows, key=lambda r: (r["best_val_acc"], -(r["seconds"] or 0)))  # a tie goes to the quicker
    others = [f"{r['arm']} {r['best_val_acc']:.3f}" for r in rows if r is not best]
    total = sum(r["seconds"] or 0 for r in rows)
    why = [f"{best['arm']} scored {best['best_val_acc']:.3f} on the validation pictures"
           + (f", against {', '.join(others)}" if others else "")
           + f" ({len(rows)} candidate{'s' * (len(rows) > 1)} trained in {total:.0f} s)."]
    auto = experiment.auto or {}
    if auto.get("left_out"):
        why.append("Left out for time: " + "; ".join(auto["left_out"]) + ".")
    why.append("The choice was made on the same validation pictures that measure it, so its figure flatters it a "
               "little; check it on new pictures.")
    finished = all(r["state"] in ended_states(experiment) for r in every)
    return {"run_id": best["run_id"], "arm": best["arm"], "best_val_acc": best["best_val_acc"],
            "seconds": best["seconds"], "finished": finished, "why": " ".join(why)}
