"""RunConfig: every choice of one run, validated, saved with the run as config.json.

RunConfig checks what holds for every run (ranges, types). Whether its strategy, head and the
strategy's own settings exist is the registries' business: tlcore.training.strategies.check_config,
which the run store calls before a run folder is made.
"""
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from tlcore.errors import DamagedFile, InputError
from tlcore.jsonio import load_json, write_json_atomic
from tlcore.records import matches_annotation


class ConfigError(InputError):
    """A run configuration that cannot be trained, with the reason in one sentence."""


# Pictures are checked, cached and trained at this size unless a run asks for another: small enough for a
# classroom laptop's processor, and the size the studio's measurements are made at (docs/benchmarks.md).
DEFAULT_IMAGE_SIZE = 128
MAX_AUGMENT_VIEWS = 16
BALANCE_CHOICES = ("auto", "on", "off")


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to rebuild a run from its folder alone."""

    data: str
    backbone: str = "mobilenet_v2"
    strategy: str = "feature_extraction"
    epochs: int = 10
    image_size: int = DEFAULT_IMAGE_SIZE
    batch_size: int = 32
    lr: float | None = None  # None: the strategy's own default
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"
    head: str = "linear"
    augment: bool = True  # used by strategies that train on images
    # Rounds without a better validation score before a phase ends; 0 never stops early. The best
    # model is kept either way, so stopping costs nothing but the rounds that would not have helped.
    early_stop_patience: int = 5
    # Training pictures per class, drawn with the seed from the training split (None: all of them).
    # Validation stays whole, so runs of several sizes are measured on the same pictures.
    train_per_class: int | None = None
    head_epochs: int = 5  # fine_tune: epochs of head-only warm-up on cached embeddings
    # Phases on cached features also learn from this many varied copies of each training picture
    # (random crops and flips, each copy's features cached like the plain ones): variety at the price
    # of a feature pass per copy, once.
    augment_views: int = 0
    # Test-time augmentation: validation and prediction average a picture's probabilities with its mirror's.
    tta: bool = False
    # Draw every class equally often while training: "auto" does when the largest class has more than
    # twice the pictures of the smallest, "on" always, "off" never.
    balance: str = "auto"
    unfreeze_stages: int = 0  # fine_tune: 0 unfreezes the whole body, N the last N stages
    weights_file: str | None = None  # a user's own weights for the backbone
    # A finished run whose body this run starts from (its folder), instead of the registry's weights.
    init_from: str | None = None
    # Several networks combined ("a+b" as the backbone): per member, the finished run whose body it
    # takes, "" for the registry's weights; empty when every member takes the registry's.
    member_runs: list[str] = field(default_factory=list)
    # Pictures from where the model will be used (a folder or zip, labelled or not): a strategy that
    # aligns domains trains on them without labels; any strategy reports its accuracy there when labelled.
    target: str | None = None
    # Labelled datasets (folders or zips) whose classes meta-learning draws its small practice tasks from.
    meta_sources: list[str] = field(default_factory=list)
    # A second labelled dataset trained at the same time, with its own head on the shared body (multi-task).
    joint_with: str | None = None
    options: dict = field(default_factory=dict)  # the strategy's own settings (see its registry entry)
    # Processes training the run together, data-parallel (torch.distributed): one per GPU, or CPU
    # processes sharing the cores. Each takes its share of every batch: batch_size is the global batch.
    processes: int = 1
    name: str = ""  # a label the person chose
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the first setting that cannot work."""
        if not self.data:
            raise ConfigError("No dataset was given.")
        if not self.strategy or not self.head:
            raise ConfigError("No strategy or no head was given.")
        checks = [
            (1 <= self.epochs <= 1000, "Epochs must be between 1 and 1000."),
            (32 <= self.image_size <= 512, "Image size must be between 32 and 512 pixels."),
            (1 <= self.batch_size <= 1024, "Batch size must be between 1 and 1024."),
            (self.lr is None or 0 < self.lr < 10, "Learning rate must be a positive number below 10."),
            (0 < self.val_fraction < 0.9, "The validation fraction must be between 0 and 0.9."),
            (self.early_stop_patience >= 0, "Early-stopping patience cannot be negative."),
            (self.train_per_class is None or self.train_per_class >= 1,
             "The training pictures per class must be at least 1."),
            (0 <= self.head_epochs <= 200, "Head warm-up epochs must be between 0 and 200."),
            (self.unfreeze_stages >= 0, "The number of stages to unfreeze cannot be negative."),
            (0 <= self.augment_views <= MAX_AUGMENT_VIEWS,
             f"Varied copies of each picture must be between 0 and {MAX_AUGMENT_VIEWS}."),
            (self.balance in BALANCE_CHOICES, f"Class balancing must be one of {', '.join(BALANCE_CHOICES)}."),
            (all(isinstance(p, str) and p for p in self.meta_sources),
             "Each meta-learning source must be the path of a dataset."),
            (all(isinstance(r, str) for r in self.member_runs), "Each combined network's run must be a path."),
            (not self.member_runs or len(self.member_runs) == len(self.backbone.split("+")) > 1,
             "Each of the combined networks needs its own starting point, no more and no fewer."),
            (not (self.member_runs and self.init_from), "Combined networks name their runs one by one, not with "
                                                        "one run to start from."),
            (1 <= self.processes <= 64, "The number of processes must be between 1 and 64."),
            (self.batch_size >= self.processes, f"Each of the {self.processes} processes takes a share of every "
                                                f"batch: the batch size must be at least {self.processes}."),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        """Rebuild a config from its dict; ConfigError for anything else (a damaged config.json)."""
        if not isinstance(values, dict):
            raise ConfigError(f"The run configuration is a {type(values).__name__}, not a set of settings.")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ConfigError(f"Unknown settings in the run configuration: {', '.join(unknown)}.")
        if "balance" not in values:  # written before balancing existed: it trained without, and still does
            values = {**values, "balance": "off"}
        wrong = [name for name, value in values.items() if not matches_annotation(value, fields[name].type)]
        if wrong:
            raise ConfigError(f"Settings of the wrong kind in the run configuration: {', '.join(wrong)}.")
        return cls(**values)

    def save(self, path: Path) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: Path) -> "RunConfig":
        """Read config.json. Raises OSError (missing, no regular file) or ConfigError (damaged)."""
        try:
            values = load_json(path)
        except DamagedFile as error:  # the parser's words ("Expecting value: line 1") mean nothing to people
            raise ConfigError("The run's settings file (config.json) is damaged, so the run cannot start; "
                              "start a new run with the same settings from the Train page.") from error
        return cls.from_dict(values)
