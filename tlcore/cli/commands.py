"""Every command: the parser that reads it and the function that runs it."""
import argparse

from tlcore.cli.serve import (add_serve_parsers, command_check_labels, command_explain, command_export,
                              command_predict)
from tlcore.cli.tools import add_tool_parsers, command_backbones, command_vendor, command_weights, command_worker
from tlcore.cli.experiment import add_experiment_parser, command_experiment
from tlcore.cli.people import add_people_parsers, command_class, command_runs
from tlcore.cli.train import add_train_parser, command_train


def build_parser(with_registries: bool = True) -> argparse.ArgumentParser:
    """The whole command line; without the registries (train and experiment), no torch is imported."""
    parser = argparse.ArgumentParser(prog="python -m tlcore", description="Transfer Learning Studio engine")
    sub = parser.add_subparsers(dest="command", required=True)
    if with_registries:
        add_train_parser(sub)
        add_experiment_parser(sub)
    add_serve_parsers(sub)
    add_tool_parsers(sub)
    add_people_parsers(sub)
    return parser


COMMANDS = {"train": command_train, "predict": command_predict, "export": command_export,
            "backbones": command_backbones, "weights": command_weights, "worker": command_worker,
            "vendor": command_vendor, "experiment": command_experiment, "explain": command_explain,
            "check-labels": command_check_labels, "class": command_class, "runs": command_runs}
