"""A run's config checked against the registries (strategies, heads, backbones), before any work.

RunConfig checks what holds for every run (ranges, types); this module checks what depends on the
registries: that the strategy and head exist, the strategy's own settings and extra inputs, the image
size the backbone takes, and the combinations that cannot train together. The run store calls
check_config before a run folder is made, and the worker again before it trains.
"""
from pathlib import Path

from tlcore.config import ConfigError, RunConfig
from tlcore.models.backbones import get_spec, is_combined
from tlcore.models.heads import get_head
from tlcore.training.strategies import INPUT_WORDS, StrategySpec, get_strategy


def check_config(config: RunConfig) -> StrategySpec:
    """Refuse, in one sentence, a config its strategy cannot train: names, settings, extra inputs.

    RunConfig checks what holds for every run; this checks it against the registries. The run
    store calls it before a run folder is made and the worker again before it trains.
    """
    try:
        spec = get_strategy(config.strategy)
        get_head(config.head)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    known = {setting.key: setting for setting in spec.settings}
    unknown = sorted(set(config.options) - set(known))
    if unknown:
        allowed = f"its settings are {', '.join(known)}" if known else "it has no settings of its own"
        raise ConfigError(f"{spec.title} has no setting {', '.join(unknown)}; {allowed}.")
    for key, value in config.options.items():
        if (problem := known[key].problem(value)) is not None:
            raise ConfigError(problem)
    if config.init_from and not spec.pretrained:
        raise ConfigError(f"{spec.title} starts from random numbers, so it cannot start from a run; choose a "
                          "strategy that builds on a trained network.")
    if config.init_from and config.weights_file:
        raise ConfigError("A run starts either from another run or from a weights file, not from both.")
    for needed in spec.needs:
        if not getattr(config, needed):
            raise ConfigError(f"{spec.title} needs {INPUT_WORDS[needed]}.")
    if any(_same_path(source, config.data) for source in config.meta_sources):
        raise ConfigError("The pictures to practise on include the training dataset itself, whose validation "
                          "pictures would then be practised on; choose other datasets.")
    if config.meta_sources and "meta_sources" not in spec.needs:
        raise ConfigError(f"{spec.title} does not learn from small practice tasks; meta-learning sources are for "
                          "the meta-learning strategy.")
    check_image_size(config)
    if is_combined(config.backbone) and spec.trains_body:
        raise ConfigError(f"Several networks combined work with feature extraction, where each describes the "
                          f"pictures once; {spec.title} adjusts a network, so choose one network for it.")
    if config.joint_with and not spec.trains_body:
        raise ConfigError(f"{spec.title} keeps the network as it is, so a second dataset cannot share its training "
                          "(joint training); choose fine-tuning or another strategy that adjusts the network.")
    if config.joint_with and _same_path(config.joint_with, config.data):
        raise ConfigError("The second dataset for joint training is the training dataset itself; choose another one.")
    check_processes(spec, config)
    if config.target and _same_path(config.target, config.data):
        raise ConfigError("The target pictures are the training pictures themselves; choose pictures from "
                          "where the model will be used, a different folder or zip.")
    return spec


def check_processes(spec: StrategySpec, config: RunConfig) -> None:
    """Refuse several processes where they would have nothing to share, or where the strategy cannot yet
    split its work between them (the devices they need are checked where the run starts)."""
    if config.processes == 1:
        return
    if not spec.trains_body:
        raise ConfigError(f"{spec.title} trains only the last layer, on features the network computes once: "
                          f"{config.processes} processes would have nothing to share. Use one process, or a "
                          "strategy that adjusts the network (fine_tune, l2_sp, scratch).")
    if not spec.splits_across_processes or config.joint_with:
        raise ConfigError(f"{spec.title} draws extra pictures every step and is trained by one process only; "
                          "choose one process, or fine_tune, l2_sp or scratch.")


def check_image_size(config) -> None:
    """Refuse, before any work, an image size the backbone cannot take."""
    try:
        spec = get_spec(config.backbone)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if spec.fixed_image_size and config.image_size != spec.fixed_image_size:
        raise ConfigError(f"{spec.title} takes {spec.fixed_image_size} px images only; "
                          f"set the image size to {spec.fixed_image_size}.")
    if config.image_size < spec.min_image_size:
        raise ConfigError(f"{spec.title} needs images of at least {spec.min_image_size} px.")


def _same_path(a: str, b: str) -> bool:
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()

