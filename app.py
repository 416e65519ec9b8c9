"""Transfer Learning Studio: the frame around every page (navigation, sidebar, the runner).

Run with:  streamlit run app.py      (a class server: TLSTUDIO_CLASS=NAME, see ./studio run --class)
"""
import streamlit as st

from tlcore.people.person import LOCAL
from ui.errors import shielded
from ui.people import class_name, signed_in
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
TEACHER_PAGE = st.Page("app_pages/teacher.py", title="Class", icon=":material/groups:")
JOIN_PAGE = st.Page("app_pages/join.py", title="Join the class", icon=":material/login:", default=True)

shielded(start_engine)()  # the runner starts with the app, so queued runs train unwatched, and its warm
# worker imports torch while the person reads the first page, not after they press Start
# A class server shows nothing but the join page before sign-in, and the class page to its teacher.
person = LOCAL if class_name() is None else shielded(signed_in)()
if person is None:
    page = st.navigation([JOIN_PAGE], position="hidden")
else:
    page = st.navigation(PAGES + [TEACHER_PAGE] if class_name() and person.is_teacher else PAGES)
    shielded(sidebar_ui)()
shielded(page.run)()
