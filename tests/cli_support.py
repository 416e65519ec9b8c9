"""Shared by the tests that train through the CLI: a studio home per test module, and a train call."""
import json

import pytest

from tlcore.__main__ import main as cli


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A fresh studio home for the whole module: its runs can build on each other."""
    with pytest.MonkeyPatch.context() as patch:
        path = tmp_path_factory.mktemp("home")
        patch.setenv("TLSTUDIO_HOME", str(path))
        yield path


def train(capsys, *args):
    """`python -m tlcore train ARGS --quiet` at 32 px, batch 8: (exit code, its JSON line or None, stderr)."""
    code = cli(["train", *map(str, args), "--quiet", "--image-size", "32", "--batch-size", "8"])
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    return code, (json.loads(lines[-1]) if lines else None), out.err
