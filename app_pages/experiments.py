"""Experiments: compare ways of training, networks and numbers of pictures in one click; the lessons."""
import time

import streamlit as st

from tlcore.config import ConfigError
from tlcore.models.backbones import list_backbones
from tlcore.report.experiment_report import size_words
from tlcore.runs.experiments.queue import queue_experiment
from tlcore.runs.experiments.grid import ALL, grid_arms, list_experiments, new_experiment, open_experiment
from tlcore.training.strategies import get_strategy, list_strategies
from ui.experiment_view import experiment_view_ui
from ui.glossary import label
from ui.label_check import corrected_manifest
from ui.lessons import EXPERIMENT, lesson_cards_ui, lesson_words_ui
from ui.people import current_person
from ui.resources import get_runner, weights_table
from ui.state import ChosenDataset, chosen_dataset

SIZES = [5, 10, 20, 40, ALL]
IMAGE_SIZES = [64, 96, 128, 160, 224]


def new_experiment_ui(dataset: ChosenDataset) -> None:
    st.markdown(f"On **{dataset.label}**: {len(dataset.manifest.classes)} classes.")
    simple = [s.name for s in list_strategies() if not s.needs]  # the others need inputs a lesson brings
    strategies = st.multiselect(label("Ways of training to compare", "strategies"), simple,
                                default=["feature_extraction", "fine_tune", "scratch"], key="experiment_strategies",
                                format_func=lambda name: get_strategy(name).title)
    available = [s.name for s in list_backbones() if weights_table()[s.name]["available"]]
    backbones = st.multiselect(label("Networks", "backbones"), available, default=available[:1],
                               key="experiment_backbones",
                               format_func=lambda name: next(s.title for s in list_backbones() if s.name == name))
    sizes = st.multiselect("Pictures per class to train on", SIZES, default=[5, 10, 20, ALL],
                           format_func=size_words, key="experiment_sizes",
                           help="Drawn from the training pictures; every run is checked on the same validation "
                                "pictures, so the sizes are compared fairly.")
    left, right = st.columns(2)
    seeds = left.slider(label("Repeats of each run", "seeds"), 1, 5, 3, key="experiment_seeds",
                        help="Each repeat draws other pictures and starts from other random numbers; the spread "
                             "between them shows how much a result is luck.")
    image_size = right.select_slider("Picture size (pixels)", IMAGE_SIZES, value=128, key="experiment_image_size")
    name = st.text_input("Name this experiment (optional)", max_chars=80, key="experiment_name")
    count = len(strategies) * len(backbones) * len(sizes) * seeds
    st.caption(f"{count} runs, one after another; feature extraction computes each network's descriptions once "
               "for all its runs.")
    if st.button("Start the experiment", type="primary", icon=":material/play_arrow:", disabled=count == 0):
        try:
            experiment = new_experiment(corrected_manifest(dataset), arms=grid_arms(strategies, backbones),
                                        sizes=sizes, seeds=seeds, base={"image_size": image_size}, name=name.strip(),
                                        dataset_label=dataset.label, owner=current_person())
        except ConfigError as error:
            st.error(str(error))
            return
        queue_experiment(experiment, get_runner().submit)
        st.query_params[EXPERIMENT] = experiment.experiment_id
        st.rerun()


def picker_ui() -> str | None:
    experiments = list_experiments(current_person())
    if not experiments:
        return None
    by_id = {e.experiment_id: e for e in experiments}
    wanted = st.query_params.get(EXPERIMENT)
    ids = list(by_id)
    choice = st.selectbox("Experiment", ids, index=ids.index(wanted) if wanted in by_id else 0, key="experiment_pick",
                          format_func=lambda i: f"{by_id[i].name or 'Experiment'} · {by_id[i].dataset_label} · "
                                                f"{time.strftime('%d %b %H:%M', time.localtime(by_id[i].created_at))}")
    st.query_params[EXPERIMENT] = choice
    return choice


st.title("Experiments")
st.markdown("Compare ways of training, networks and numbers of pictures per class in one click. The runs are "
            "ordinary runs: each opens on the Runs page, and they go on when this tab is closed.")
chosen = chosen_dataset()
with st.expander("A new experiment on your dataset", expanded=not list_experiments(current_person())):
    if chosen is None:
        st.info("First choose the pictures on the Data page.")
        st.page_link("app_pages/data.py", label="Go to Data", icon=":material/folder_open:")
    else:
        new_experiment_ui(chosen)
picked = picker_ui()
if picked is not None:
    experiment = open_experiment(picked, current_person())
    lesson_words_ui(experiment)
    experiment_view_ui(experiment.folder)
st.subheader("Lessons")
lesson_cards_ui("experiments")
