"""What the AppTest page tests share: a fresh studio home, opening the app, reading what it shows."""
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parent.parent / "app.py"
RUN_TIMEOUT_S = 120


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh studio home; server folders allowed only under tmp_path; no network probes."""
    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "studio"))
    monkeypatch.setenv("TLSTUDIO_ALLOWED_ROOTS", str(tmp_path))
    monkeypatch.setenv("TLSTUDIO_OFFLINE", "1")
    monkeypatch.setenv("TLSTUDIO_PROPAGATE_ERRORS", "1")  # a bug fails the test as at.exception
    monkeypatch.setenv("TLSTUDIO_WARM_WORKER", "0")  # no standby importing torch beside each page test
    yield tmp_path
    st.cache_resource.clear()  # stops this home's runner (its on_release)
    st.cache_data.clear()


@pytest.fixture
def offline_weights(offline_torch_home, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(offline_torch_home))


def open_app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    if page:
        at.switch_page(page).run()
    assert not at.exception
    return at


def open_folder(at: AppTest, folder: Path) -> AppTest:
    """Type a server folder into the Data page and submit it."""
    at.text_input(key="server_path_text").set_value(str(folder))
    next(b for b in at.button if b.label == "Use this folder").click()
    return at.run()


def table(at: AppTest, column: str):
    """The first st.dataframe with this column, as a pandas DataFrame (a read-only table has no key to find it by)."""
    return next(frame.value for frame in at.dataframe if column in frame.value.columns)


def texts(elements) -> str:
    return "\n".join(str(e.value) for e in elements)
