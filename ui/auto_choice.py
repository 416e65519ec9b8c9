"""Best model in N minutes: the Train page's automatic choice, and its verdict on the Experiments page."""
import streamlit as st

from tlcore.config import ConfigError, RunConfig
from tlcore.report import auto_choice
from tlcore.runs.experiments.queue import queue_experiment
from tlcore.runs.experiments.grid import Experiment
from ui import format as fmt
from ui.label_check import corrected_manifest
from ui.lessons import EXPERIMENT
from ui.resources import get_runner, known_throughput, measure, weights_table
from ui.state import ChosenDataset
from ui.people import current_person

IMAGE_SIZE = RunConfig.image_size  # the studio's default: the benchmarks behind the candidates used it
DEVICE = "auto"


def auto_choice_ui(dataset: ChosenDataset) -> bool:
    """The switch, and when it is on, the plan and its start. Returns whether the person chose it."""
    on = st.toggle("Let the studio choose: the best model in a few minutes", key="auto_on",
                   help="The studio tries the ways of training that fit in the time you give, on the same "
                        "validation pictures, and keeps the most accurate. Each try is an ordinary run.")
    if not on:
        return False
    minutes = st.slider("Minutes it may take", auto_choice.MIN_MINUTES, 15, 2, key="auto_minutes")
    available = [name for name, row in weights_table().items() if row["available"]]
    arms = auto_choice.candidates(lambda name: name in available, IMAGE_SIZE)
    unknown = {(arm.backbone, arm.strategy == "fine_tune") for arm in arms
               if known_throughput(arm.backbone, IMAGE_SIZE, DEVICE, arm.strategy == "fine_tune") is None}
    if unknown:
        st.caption("To plan the time, the studio first times each network here on a few batches (once per "
                   "computer, a few seconds each).")
        if st.button("Time the networks", icon=":material/timer:", key="auto_time"):
            try:
                with st.spinner("Timing the networks…"):
                    for backbone, train in sorted(unknown):
                        measure(backbone, IMAGE_SIZE, DEVICE, train)
            except (ValueError, RuntimeError, MemoryError) as error:  # out of memory beside a run, say
                st.error(f"The timing failed: {error}")
                return True
            st.rerun()
        return True
    manifest = corrected_manifest(dataset)
    try:
        plan = auto_choice.plan(manifest, minutes, available=lambda name: name in available,
                                throughput=lambda name, train: known_throughput(name, IMAGE_SIZE, DEVICE, train))
    except ValueError as error:
        st.error(str(error))
        return True
    lines = [f"- {label}: about {fmt.duration(seconds)}" for label, seconds in plan.seconds.items()]
    st.markdown(f"It will try, one after another ({IMAGE_SIZE} px pictures, the solved last layer):\n"
                + "\n".join(lines))
    if plan.left_out:
        st.caption("Left out for time: " + "; ".join(plan.left_out) + ". Give it more minutes to include them.")
    if st.button("Start the automatic choice", type="primary", icon=":material/auto_awesome:", key="auto_start"):
        try:
            experiment = auto_choice.start(manifest, plan, minutes, base={"image_size": IMAGE_SIZE},
                                           dataset_label=dataset.label, driver="runner", owner=current_person())
        except ConfigError as error:
            st.error(str(error))
            return True
        queue_experiment(experiment, get_runner().submit)
        st.switch_page("app_pages/experiments.py", query_params={EXPERIMENT: experiment.experiment_id})
    return True


def auto_verdict_ui(experiment: Experiment) -> None:
    """What the automatic choice chose and why, once a candidate has finished."""
    chosen = auto_choice.choice(experiment)
    if chosen is None:
        st.info(f"The studio is trying {len(experiment.cells)} ways of training in up to "
                f"{experiment.auto['minutes']:g} minutes; its choice appears here as they finish.")
        return
    lead = "Chosen" if chosen["finished"] else "Best so far"
    st.success(f"**{lead}: {chosen['arm']}**, {fmt.percent(chosen['best_val_acc'])} of the validation pictures "
               f"right. {chosen['why']}", icon=":material/auto_awesome:")
    st.page_link("app_pages/runs.py", label="Open the chosen run", icon=":material/open_in_new:",
                 query_params={"run": chosen["run_id"]})
