"""Grad-CAM on a page: the picture as the network saw it beside where it found a class."""
from pathlib import Path

import streamlit as st
from PIL import Image

from tlcore.runs import RunFolder
from ui import format as fmt
from ui.resources import explainer


def explanation_ui(run_dir: Path, picture: Image.Image, class_name: str) -> None:
    """Explain a run's kept model on one picture for one class; a model that cannot be explained is said."""
    try:
        model = explainer(str(run_dir), RunFolder(run_dir).model_path.stat().st_mtime)
        explanation = model.explain(picture, class_name)
    except (OSError, ValueError, RuntimeError) as error:
        st.error(f"This model could not be explained: {error}")
        return
    original, heat = st.columns(2)
    original.image(explanation.picture, caption="what the network saw", width="stretch")
    heat.image(explanation.overlay, caption=f"where it found {class_name} ({fmt.percent(explanation.probability)})",
               width="stretch")
