"""Transfer Learning Studio: the frame around every page (navigation, sidebar, the runner).

Run with:  streamlit run app.py
"""
import streamlit as st

from ui.errors import shielded
from ui.resources import start_engine
from ui.sidebar import sidebar_ui

st.set_page_config(page_title="Transfer Learning Studio", page_icon=":material/model_training:",
                   layout="wide")

PAGES = [
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/data.py", title="Data", icon=":material/folder_open:"),
    st.Page("app_pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/monitoring:"),
    st.Page("app_pages/experiments.py", title="Experiments", icon=":material/science:"),
    st.Page("app_pages/predict.py", title="Predict & export", icon=":material/online_prediction:"),
]

page = st.navigation(PAGES)
shielded(start_engine)()  # the runner starts with the app, so queued runs train unwatched, and its warm
# worker imports torch while the person reads the first page, not after they press Start
shielded(sidebar_ui)()
shielded(page.run)()
