"""Home: what the studio does, a one-click start with the sample dataset, and the latest runs."""
import streamlit as st

from tlcore.runs import list_runs
from ui import format as fmt
from ui.dataset import SAMPLE_LABEL, use_sample
from ui.glossary import GLOSSARY
from ui.lessons import lesson_cards_ui
from ui.people import current_person
from ui.start_run import start_with_defaults
from ui.state import data_problem

RECENT_RUNS = 5


def intro_ui() -> None:
    st.title("Transfer Learning Studio")
    st.markdown(
        "Teach a computer to sort **your own pictures** into categories, without writing code.  \n"
        "Bring a folder with one sub-folder of images per category, pick a network that already "
        "knows how to see, and train it on your categories while you watch it learn.  \n"
        "Then try it on new pictures and download the trained model.")


def quick_start_ui() -> None:
    st.subheader("Start in one click")
    st.caption("200 pictures of clothing in 5 categories, built in: no upload, no download. One click trains a "
               "model on them with the studio's choices, and you watch it learn.")
    if st.button("Train a model on the sample", type="primary", icon=":material/rocket_launch:"):
        if (sample := use_sample()) is not None:
            start_with_defaults(sample)
    if st.button("Try the sample dataset", icon=":material/tune:",
                 help="Opens the sample on the Train page, to choose the network and the way to train first."):
        if use_sample() is not None:
            st.switch_page("app_pages/train.py")
    problem = data_problem()
    if problem is not None and problem.label == SAMPLE_LABEL:
        st.error(problem.message)


def steps_ui() -> None:
    st.subheader("Or step by step")
    data, train, runs, predict = st.columns(4)
    data.page_link("app_pages/data.py", label="1. Bring your images", icon=":material/folder_open:")
    train.page_link("app_pages/train.py", label="2. Choose how to train", icon=":material/model_training:")
    runs.page_link("app_pages/runs.py", label="3. Watch it learn", icon=":material/monitoring:")
    predict.page_link("app_pages/predict.py", label="4. Try it and download", icon=":material/online_prediction:")


def lessons_ui() -> None:
    st.subheader("Lessons: see what transfer learning buys")
    st.caption("Ready-made experiments on Fashion-MNIST, with a few words before and after. One click each; "
               "the runs train in the background and you watch the results come in.")
    lesson_cards_ui("home")


def glossary_ui() -> None:
    with st.expander("Words used here, in one sentence each"):
        st.markdown("\n".join(f"- **{term}**: {meaning}" for term, meaning in GLOSSARY.items()))


def recent_runs_ui() -> None:
    runs = list_runs(person=current_person())[:RECENT_RUNS]
    if not runs:
        return
    st.subheader("Recent runs")
    for run in runs:
        best = run.status.get("best_val_acc")
        accuracy = f" · best accuracy {fmt.percent(best)}" if best is not None else ""
        st.page_link("app_pages/runs.py", label=f"{fmt.run_title(run)} · {fmt.state_text(run.state)}{accuracy}",
                     query_params={"run": run.run_id})


intro_ui()
quick_start_ui()
steps_ui()
recent_runs_ui()
lessons_ui()
glossary_ui()
