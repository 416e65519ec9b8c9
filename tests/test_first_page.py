"""The first page draws without torch: the engine's imports happen in the background, the runner after them."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

HOME_PAGE_WITHOUT_PRELOAD = """
import sys
from streamlit.testing.v1 import AppTest
import ui.resources
ui.resources.preload_engine = lambda: None  # what the page itself imports, and nothing in the background
at = AppTest.from_file("app.py", default_timeout=60).run()
assert not at.exception, at.exception
assert at.title[0].value == "Transfer Learning Studio"
print("torch" in sys.modules)
"""


def test_the_home_page_draws_without_importing_torch(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "TLSTUDIO_HOME": str(tmp_path / "studio"), "TLSTUDIO_OFFLINE": "1",
           "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", HOME_PAGE_WITHOUT_PRELOAD], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_the_engine_and_the_runner_follow_in_the_background(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tlcore import paths
    import ui.resources

    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "studio"))
    monkeypatch.setenv("TLSTUDIO_OFFLINE", "1")
    ui.resources.preload_engine()
    ui.resources._preloaded.wait(timeout=120)
    assert ui.resources.engine_ready()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert "Trains on" in "\n".join(c.value for c in at.sidebar.caption)  # the device, once torch is in
    assert ui.resources._runner_for(str(paths.runs_dir())) is ui.resources.get_runner()
    import streamlit as st
    st.cache_resource.clear()
