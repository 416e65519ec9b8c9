"""The lessons' cards (the home page and the Experiments page): one click builds and queues a lesson's
experiment and opens it; a card's time comes from this computer's measured speed, and a lesson's
closing words from its own results."""
import streamlit as st

from tlcore.config import ConfigError
from tlcore.errors import describe_os_error
from tlcore.runs.experiments.grid import Experiment, is_finished, results
from tlcore.runs.experiments.lessons import IMAGE_SIZE, LESSONS, Lesson, get_lesson
from ui.resources import engine_ready, get_runner, known_throughput, measure
from ui.people import current_person

EXPERIMENT = "experiment"  # the Experiments page's query parameter naming the experiment on view
LESSONS_NETWORK = "mobilenet_v2"  # every lesson's network (grid.Arm's default): one measurement times them all


def lesson_cards_ui(where: str) -> None:
    """Every lesson as a card with its time here and a button; where: a key prefix for the page."""
    times = lesson_times()
    for lesson in LESSONS:
        with st.container(border=True):
            st.markdown(f"**{lesson.title}** · {time_words(times, lesson)}")
            st.caption(lesson.before)
            if st.button("Run this lesson", key=f"{where}_lesson_{lesson.lesson_id}", icon=":material/school:"):
                start_lesson(lesson)
    if times is not None and not times:  # the engine is in, and this computer's speed is not known yet
        if st.button("Time the lessons on this computer (a few seconds)", key=f"{where}_time_lessons",
                     icon=":material/timer:"):
            try:
                with st.spinner("Timing the lessons' network on a few batches…"):
                    measure(LESSONS_NETWORK, IMAGE_SIZE, "auto", True)
            except (ValueError, RuntimeError, MemoryError) as error:
                st.error(f"The measurement failed: {error}")
                return
            st.rerun()


def lesson_times() -> dict[str, float] | None:
    """Lesson id -> estimated seconds here; empty before this computer's speed was measured, None while the
    engine is still being imported (the home page draws without it)."""
    if not engine_ready():
        return None
    from tlcore.report.lesson_time import lesson_seconds

    rates = {}  # read from the measurements file once per network, not once per run

    def rate(backbone: str):
        if backbone not in rates:
            rates[backbone] = known_throughput(backbone, IMAGE_SIZE, "auto", True)
        return rates[backbone]

    times = {lesson.lesson_id: lesson_seconds(lesson, rate) for lesson in LESSONS}
    return {lesson_id: seconds for lesson_id, seconds in times.items() if seconds is not None}


def time_words(times: dict[str, float] | None, lesson: Lesson) -> str:
    if times is None:
        return "its time on this computer shows in a moment"
    if lesson.lesson_id not in times:
        return "not timed on this computer yet"
    return f"about {rough_minutes(times[lesson.lesson_id])} here (from this computer's measured speed)"


def rough_minutes(seconds: float) -> str:
    """A lesson's time as a class plans with it: 'under a minute', 'a minute', '4 minutes'."""
    if seconds < 45:
        return "under a minute"
    minutes = round(seconds / 60)
    return "a minute" if minutes <= 1 else f"{minutes} minutes"


def start_lesson(lesson: Lesson) -> None:
    try:
        with st.spinner("Getting the lesson's pictures ready…"):
            experiment = lesson.build(get_runner().submit, current_person())
    except (ConfigError, ValueError) as error:  # a refused setting, pictures that could not be checked
        st.error(f"The lesson could not start: {error}")
        return
    except OSError as error:  # its pictures could not be written: a full disk, a read-only home
        st.error(f"The lesson could not start: {describe_os_error(error)}")
        return
    st.switch_page("app_pages/experiments.py", query_params={EXPERIMENT: experiment.experiment_id})


def lesson_words_ui(experiment: Experiment) -> None:
    """A lesson's question, then how to read it while it runs and what it showed once it has finished."""
    lesson = get_lesson(experiment.lesson or "")
    if lesson is None:
        return
    st.markdown(f"*{lesson.before}*")
    shown = lesson.conclusion(results(experiment)) if is_finished(experiment) else []
    if shown:
        st.info("**What it showed here:** " + " ".join(shown), icon=":material/school:")
    else:
        st.info(f"{lesson.read} What the lesson showed is written here once its runs have finished.",
                icon=":material/school:")
