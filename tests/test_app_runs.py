"""The Runs page and the sidebar with real runs: the queue, cancel, compare, a run a restart interrupted."""
import subprocess
import sys
import time

from apptest_support import home, offline_weights, open_app, table, texts  # noqa: F401 (fixtures)
from imagegen import make_image_folder
from tlcore import paths, runs
from tlcore.config import RunConfig
from waiting import run_state, wait_for

RUN_TIMEOUT_S = 120


def test_queue_cancel_and_compare(home, offline_weights):
    folder = make_image_folder(home / "shapes", {"circles": 6, "squares": 6})
    at = open_app()  # starts the app's runner, which dispatches runs from the store
    settings = {"data": str(folder), "image_size": 64, "batch_size": 4, "extra": {"dataset": "shapes"}}
    long_run = runs.create_run(RunConfig(**settings, strategy="fine_tune", epochs=500, head_epochs=0,
                                         name="Long one"), paths.runs_dir())
    wait_for(lambda: run_state(long_run) == "running")
    first = runs.create_run(RunConfig(**settings, epochs=3, name="First in line"), paths.runs_dir())
    second = runs.create_run(RunConfig(**settings, epochs=3, seed=1, name="Second in line"), paths.runs_dir())

    at.switch_page("app_pages/runs.py").run()
    assert not at.exception
    statuses = dict(zip(table(at, "status")["run"], table(at, "status")["status"]))
    assert statuses == {"Long one": "running", "First in line": "queued (#1 in line)",
                        "Second in line": "queued (#2 in line)"}
    sidebar = texts(at.sidebar.markdown) + texts(at.sidebar.caption)
    assert "**Training:** Long one" in sidebar and "2 more waiting in the queue." in sidebar

    # The newest run is shown; pick the long one and cancel it: the queue moves on by itself.
    at.selectbox(key="run_picker").select(long_run.name).run()
    at.button(key=f"cancel_{long_run.name}").click().run()
    wait_for(lambda: run_state(long_run) == "cancelled", timeout=30)
    wait_for(lambda: run_state(first) == run_state(second) == "succeeded", timeout=RUN_TIMEOUT_S)
    at.run()
    assert not at.exception
    assert f"Cancelled after" in texts(at.info)

    # Compare the two finished runs: one chart with a curve per run.
    at.multiselect[0].select(first.name).select(second.name).run()
    assert not at.exception
    figure = str(at.get("plotly_chart")[-1].proto.spec)
    assert "First in line" in figure and "Second in line" in figure


def test_a_run_the_server_lost_shows_as_interrupted(home):
    run_dir = runs.create_run(RunConfig(data=str(home / "photos")), paths.runs_dir())
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    runs.update_status(run_dir, state="running", pid=gone.pid, started_at=time.time() - 60,
                       heartbeat_at=time.time() - 60)
    at = open_app("app_pages/runs.py")  # a server starting up finds the run's worker gone
    assert table(at, "status")["status"].tolist() == ["interrupted"]
    assert "The server stopped while this run was training" in texts(at.error)
    assert "No run in progress." in texts(at.sidebar.caption)
