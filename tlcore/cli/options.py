"""Argument types and the options shared by several commands, with the one error a command says in words."""
import argparse

from tlcore.config import BALANCE_CHOICES, RunConfig


class UserError(Exception):
    """Bad input: printed as one line, exit code 2, no traceback."""


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a number of at least 1")
    return value


def confidence(text: str) -> float:
    """An argparse type: a probability from 0 to 1 (0.6), or a percentage (60%)."""
    problem = f"'{text}' is not a confidence from 0 to 1 (such as 0.6) or a percentage (such as 60%)"
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(problem) from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(problem)
    return value


def add_run_options(parser, strategies, image_size_help: str = f"default: {RunConfig.image_size}") -> None:
    """The options every run takes, for train and for an experiment's runs; their defaults are RunConfig's."""
    from tlcore.models.heads import list_heads

    warm_ups = ", ".join(s.name for s in strategies if s.warm_up)
    bodies = ", ".join(s.name for s in strategies if s.trains_body and s.pretrained)
    parser.add_argument("--epochs", type=int, default=None,
                        help="rounds of training (after the warm-up where there is one); default: the strategy's own ("
                             + ", ".join(f"{s.name} {s.default_epochs}" for s in strategies) + ")")
    parser.add_argument("--image-size", type=int, default=None, help=image_size_help)
    parser.add_argument("--batch-size", type=int, default=RunConfig.batch_size)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--val-fraction", type=float, default=RunConfig.val_fraction)
    parser.add_argument("--device", default=RunConfig.device)
    parser.add_argument("--head", default=RunConfig.head, choices=[h.name for h in list_heads()])
    parser.add_argument("--head-epochs", type=int, default=RunConfig.head_epochs, help=f"head warm-up epochs ({warm_ups})")
    parser.add_argument("--unfreeze-stages", type=int, default=RunConfig.unfreeze_stages, help=f"last N stages train (0: all; {bodies})")
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--augment-views", type=int, default=RunConfig.augment_views, metavar="K",
                        help="phases on cached features also learn from K varied copies of each training picture "
                             "(random crops and flips; each copy's features computed once and cached); default 0")
    parser.add_argument("--tta", action="store_true",
                        help="test-time augmentation: validation (and the Predict page) average each picture's "
                             "probabilities with its mirror image's")
    parser.add_argument("--balance", choices=BALANCE_CHOICES, default=RunConfig.balance,
                        help="draw every class equally often while training: auto (when the largest class has more "
                             "than twice the pictures of the smallest), on, off; default auto")
    parser.add_argument("--early-stop", type=int, default=RunConfig.early_stop_patience, metavar="PATIENCE",
                        help="end a phase after this many epochs without a better validation accuracy (0: never)")


def run_options(args) -> dict:
    """RunConfig fields from add_run_options' options (epochs and image size only where given)."""
    values = dict(batch_size=args.batch_size, lr=args.lr, val_fraction=args.val_fraction, device=args.device,
                  head=args.head, augment=not args.no_augment, early_stop_patience=args.early_stop,
                  head_epochs=args.head_epochs, unfreeze_stages=args.unfreeze_stages,
                  augment_views=args.augment_views, tta=args.tta, balance=args.balance)
    if args.image_size:
        values["image_size"] = args.image_size
    return values
