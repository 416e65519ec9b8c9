"""The Runs page's map of what the network sees: the validation pictures placed by their features in
two dimensions, coloured by class, before and after a run adjusted its network; a click opens a picture."""
from pathlib import Path

import streamlit as st

from tlcore import paths
from tlcore.config import ConfigError
from tlcore.data.imagecache import ImageCache
from tlcore.errors import describe_os_error
from tlcore.report import plots
from ui.glossary import explain, label

METHOD_WORDS = {"pca": "the two main directions (PCA)", "tsne": "neighbours stay neighbours (t-SNE)"}


def feature_map_ui(run_dir: Path, image_size: int) -> None:
    with st.expander("A map of what the network sees"):
        st.caption("Each validation picture is a point, placed by how the network describes it: pictures it finds "
                   "alike sit together. A cross is a picture it got wrong.")
        method = st.radio(label("Map", "projection"), list(METHOD_WORDS), format_func=METHOD_WORDS.get,
                          horizontal=True, key=f"map_method_{run_dir.name}", help=explain("feature map"))
        if not st.toggle("Draw the map", key=f"map_on_{run_dir.name}",
                         help="The network describes every validation picture again: seconds on a laptop."):
            return
        from tlcore.serve.feature_map import feature_map  # here: scikit-learn takes 2 s to import

        try:
            with st.spinner("Describing the pictures…"):
                found = feature_map(run_dir, method)
        except (ConfigError, ValueError) as error:
            st.error(f"The map could not be drawn: {error}")
            return
        except OSError as error:
            st.error(f"The map could not be drawn: {describe_os_error(error)}")
            return
        names = [f"picture {i + 1}" for i in range(len(found["labels"]))]
        maps = [("after", "The network this run kept")]
        if found["before"] is not None:
            maps.insert(0, ("before", "The network it started from"))
        clicked = None
        for column, (which, title) in zip(st.columns(len(maps)), maps):
            event = column.plotly_chart(
                plots.feature_map_figure(found[which], found["labels"], found["predicted"], found["classes"], names,
                                         title), key=f"map_{which}_{method}_{run_dir.name}", on_select="rerun",
                selection_mode="points")
            points = (event or {}).get("selection", {}).get("points", [])
            if points and points[0].get("customdata"):
                clicked = int(points[0]["customdata"][0])
        if found["before"] is None:
            st.caption("The network itself did not change in this run (or started from random numbers), so there "
                       "is one map.")
        if clicked is not None:
            picture_ui(found, clicked, image_size)


def picture_ui(found: dict, index: int, image_size: int) -> None:
    classes, true, said = found["classes"], int(found["labels"][index]), int(found["predicted"][index])
    try:
        picture = ImageCache(paths.cache_dir()).load(str(found["keys"][index]), image_size)
    except (OSError, ValueError):
        st.caption("That picture cannot be shown any more.")
        return
    answer = f"{classes[true]}" + ("" if true == said else f", called {classes[said]}")
    st.image(picture, caption=f"picture {index + 1}: {answer}", width=160)
