"""What keeps a person from ever facing a traceback, and the server's own settings."""
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import home, open_app, open_folder, texts  # noqa: F401 (fixtures)
from tlcore import paths, runs
from tlcore.config import RunConfig
from tlcore.runs import RunFolder
from ui.dataset import allowed_roots
from ui.errors import UNEXPECTED

ROOT = Path(__file__).resolve().parent.parent


def failing_page():
    from ui.errors import shielded

    def chart():
        raise KeyError("no column 'val_acc'")  # a bug nobody foresaw

    shielded(chart)()
    import streamlit as st

    st.write("The rest of the page still draws.")


def test_an_unexpected_error_is_a_sentence_not_a_traceback(monkeypatch):
    monkeypatch.delenv("TLSTUDIO_PROPAGATE_ERRORS", raising=False)
    at = AppTest.from_function(failing_page).run()
    assert not at.exception
    assert UNEXPECTED in texts(at.error) and "KeyError" in texts(at.error)
    assert "The rest of the page still draws." in texts(at.markdown)


@pytest.mark.parametrize("typed", ["~no_such_user_anywhere/photos", "relative/photos"])
def test_odd_server_paths_are_refused_in_words(home, typed):
    at = open_folder(open_app("app_pages/data.py"), Path(typed))
    assert not at.exception
    assert texts(at.error).startswith(f"'{typed}'")


def test_a_damaged_model_is_reported_on_the_predict_page(home):
    run_dir = runs.create_run(RunConfig(data=str(home)), paths.runs_dir())
    (run_dir / "model_best.pt").write_bytes(b"PK\x03\x04 cut short")
    RunFolder(run_dir).update_status(state="succeeded", best_val_acc=0.9)
    at = open_app("app_pages/predict.py")
    assert not at.exception
    assert "could not be loaded" in texts(at.error) and "not a usable model file" in texts(at.error)


def test_server_settings_fit_image_folders_and_stay_private():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"  # the Data page can open server folders
    assert config["server"]["maxUploadSize"] >= 200  # a zipped dataset is one big file
    assert config["server"]["headless"] is True and config["server"]["fileWatcherType"] == "none"
    assert config["browser"]["gatherUsageStats"] is False


def test_server_folders_are_open_only_when_served_locally(monkeypatch, tmp_path):
    import streamlit as st

    monkeypatch.delenv("TLSTUDIO_ALLOWED_ROOTS", raising=False)
    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "studio"))
    monkeypatch.setattr(st, "get_option", lambda name: "localhost")
    assert allowed_roots() == [Path.home().resolve(), paths.data_dir().resolve()]
    monkeypatch.setattr(st, "get_option", lambda name: "0.0.0.0")  # a classroom network
    assert allowed_roots() == []
    monkeypatch.setenv("TLSTUDIO_ALLOWED_ROOTS", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert allowed_roots() == [tmp_path / "a", tmp_path / "b"]


def test_a_path_with_a_nul_character_is_refused_in_words(home):
    at = open_folder(open_app("app_pages/data.py"), Path(str(home) + "/photos\0.zip"))
    assert not at.exception
    assert "holds a NUL character" in texts(at.error)
    assert UNEXPECTED not in texts(at.error)
