"""The browser's plotting library, loaded before the first chart needs it.

Streamlit's page loads Plotly (4.7 MB of JavaScript) the first time it draws a Plotly chart. In a
first run that moment falls just after the run ends, when its curves first have figures, and the
success message then waits seconds behind it on a 2-core laptop. An empty chart, hidden and drawn
once per browser session on the Train page, loads the library while the person chooses settings.
"""
import streamlit as st

_KEY = "chart_preload"


def preload_charts_ui() -> None:
    """Draw a hidden, empty Plotly chart once per session, so the browser loads its library now."""
    if st.session_state.get(_KEY):
        return
    st.html(f"<style>.st-key-{_KEY} {{display: none}}</style>")  # style only: takes no room on the page
    with st.container(key=_KEY):
        st.plotly_chart({"data": [{"type": "scatter", "x": [], "y": []}]}, config={"staticPlot": True}, key=f"{_KEY}_chart")
    st.session_state[_KEY] = True
