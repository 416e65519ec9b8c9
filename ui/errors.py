"""The last line of defence: an unexpected error becomes a sentence on the page; its traceback goes to the log.

Bad input is handled where it is read, with a specific message. This catches what nobody
foresaw (a bug, a fault of the machine), so a person never faces a raw traceback and the rest of
the app keeps working. Tests set TLSTUDIO_PROPAGATE_ERRORS=1 to see such errors raised instead.
"""
import functools
import logging
import os

import streamlit as st

PROPAGATE_ENV = "TLSTUDIO_PROPAGATE_ERRORS"
UNEXPECTED = "Something unexpected went wrong here"

log = logging.getLogger("tlstudio")


def shielded(render):
    """Wrap a function that draws part of the page: an exception it raises is shown in words and logged.

    Streamlit's own control flow (st.rerun, st.switch_page, st.stop) derives from BaseException
    and passes through untouched.
    """
    @functools.wraps(render)
    def draw(*args, **kwargs):
        try:
            return render(*args, **kwargs)
        except Exception as error:
            if os.environ.get(PROPAGATE_ENV) == "1":
                raise
            log.exception("%s failed", getattr(render, "__qualname__", render))
            st.error(f"{UNEXPECTED} ({type(error).__name__}: {error}). Your data and runs are safe on disk; "
                     "reload the page to try again. The details are in the server's log.")
    return draw
