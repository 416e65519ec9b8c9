"""The first page draws without torch: the engine's imports happen in the background, and the runner
(which needs torch only to place a run) starts at once."""
import subprocess
import sys
from pathlib import Path

import pytest

from tlcore import runs
from tlcore.config import RunConfig
from tlcore.runs.execution.worker import execute_run

ROOT = Path(__file__).resolve().parent.parent

HOME_PAGE_WITHOUT_PRELOAD = """
import sys
from streamlit.testing.v1 import AppTest
import ui.resources
ui.resources.preload_engine = lambda: None  # what the page itself imports, and nothing in the background
at = AppTest.from_file("app.py", default_timeout=60).run()
assert not at.exception, at.exception
assert at.title[0].value == "Transfer Learning Studio"
print("\\n".join(str(m.value) for m in at.markdown))
print("torch" in sys.modules)
"""


def home_page_alone(home: Path) -> list[str]:
    """The home page drawn in a fresh process with no background import: what it said, and last
    whether torch got imported."""
    env = {"PATH": "/usr/bin:/bin", "TLSTUDIO_HOME": str(home), "TLSTUDIO_OFFLINE": "1", "TLSTUDIO_WARM_WORKER": "0",
           "PYTHONPATH": str(ROOT), "HOME": str(home.parent)}
    done = subprocess.run([sys.executable, "-c", HOME_PAGE_WITHOUT_PRELOAD], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()


def test_the_home_page_draws_without_importing_torch(tmp_path):
    assert home_page_alone(tmp_path / "studio")[-1] == "False"


@pytest.mark.slow
def test_so_it_does_with_runs_to_list(shapes, tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "studio"))
    run_dir = runs.create_run(RunConfig(data=str(shapes), image_size=64, epochs=1))
    assert execute_run(run_dir)["state"] == "succeeded"
    said = home_page_alone(tmp_path / "studio")
    assert said[-1] == "False"
    assert any("feature extraction" in line for line in said)  # the run, named from its code name meanwhile


def test_the_engine_and_the_runner_follow_in_the_background(tmp_path, monkeypatch):
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from tlcore import paths
    from ui import engine, resources

    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "studio"))
    monkeypatch.setenv("TLSTUDIO_OFFLINE", "1")
    engine.preload_engine()
    assert engine._preloaded.wait(timeout=120) and engine.engine_ready()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert "Trains on" in "\n".join(c.value for c in at.sidebar.caption)  # the device, once torch is in
    assert resources._runner_for(str(paths.runs_dir())) is resources.get_runner()
    st.cache_resource.clear()
