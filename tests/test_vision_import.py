"""torchvision comes in without torch._dynamo (a second of every process's start), and dynamo still
works when something asks for it: export, compile, and the one torchvision helper that uses it."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import sys
import tlcore.models.backbones, tlcore.data.samples
assert "torchvision" in sys.modules and "torch._dynamo" not in sys.modules, "dynamo came in with torchvision"
assert "torch._dynamo.utils" not in sys.modules, "the stand-in stayed"
import torch
roi_align = sys.modules["torchvision.ops.roi_align"]
assert roi_align.is_compile_supported("cpu") in (True, False)
assert hasattr(sys.modules["torch._dynamo.utils"], "counters"), "the real module is in once asked for"
program = torch.export.export(torch.nn.Linear(3, 2), (torch.rand(1, 3),))
print(type(program).__name__)
"""


@pytest.mark.slow
def test_torchvision_imports_without_dynamo_and_dynamo_still_works():
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ExportedProgram"
