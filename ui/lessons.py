"""The lessons' cards (the home page and the Experiments page): one click builds and queues a lesson's
experiment and opens it."""
import streamlit as st

from tlcore.config import ConfigError
from tlcore.errors import describe_os_error
from tlcore.runs.experiments.lessons import LESSONS, Lesson
from ui.resources import get_runner
from ui.people import current_person

EXPERIMENT = "experiment"  # the Experiments page's query parameter naming the experiment on view


def lesson_cards_ui(where: str) -> None:
    """Every lesson as a card with its measured time and a button; where: a key prefix for the page."""
    for lesson in LESSONS:
        with st.container(border=True):
            st.markdown(f"**{lesson.title}** · {lesson.measured}")
            st.caption(lesson.before)
            if st.button("Run this lesson", key=f"{where}_lesson_{lesson.lesson_id}", icon=":material/school:"):
                start_lesson(lesson)


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
