"""Start the app's server with the engine's import already under way: `python -m ui.launch [options]`
is `streamlit run app.py [options]` (what ./studio run does).

Streamlit imports nothing of the app until someone opens a page, so the engine (torch and the
registries: seconds on a laptop) was imported while the person read the first page, and their first
click waited for the rest. Here the import starts with the server, in a background thread, while
Streamlit starts and the browser opens. The first page still never waits for it (ui.engine).
"""
import sys
from pathlib import Path

from streamlit.web import cli

from ui.engine import preload_engine


APP = Path(__file__).resolve().parent.parent / "app.py"


def main() -> None:
    preload_engine()
    sys.argv = ["streamlit", "run", str(APP), *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
