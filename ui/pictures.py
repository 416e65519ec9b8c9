"""The pictures behind a run's answers: a confusion-matrix cell's, a class's, or the most confidently
wrong, as thumbnails with what the model said and how sure it was (read from predictions.json)."""
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image, UnidentifiedImageError

from tlcore import paths
from tlcore.data.imagecache import ImageCache
from tlcore.runs.store.predictions import Prediction, in_cell, mistakes, of_class, read_predictions
from ui.explanation import explanation_ui

SHOWN = 24  # thumbnails at most: a page of pictures, not the whole validation set
COLUMNS = 6
MISTAKES = "mistakes"


def choice_key(run_dir: Path) -> str:
    return f"pictures_{run_dir.name}"


def select_cell(run_dir: Path, true: int, predicted: int) -> None:
    """Show one cell's pictures (a click on the confusion matrix)."""
    st.session_state[choice_key(run_dir)] = f"cell:{true}:{predicted}"


def pictures_ui(run_dir: Path, image_size: int) -> None:
    found = read_predictions(run_dir)
    if found is None:
        st.caption("This run kept no answer per picture (runs keep them since this version of the studio).")
        return
    classes, predictions = found
    counts = np.zeros((len(classes), len(classes)), dtype=int)
    for p in predictions:
        counts[p.true, p.predicted] += 1
    options = [MISTAKES] + [f"cell:{i}:{j}" for i in range(len(classes)) for j in range(len(classes)) if counts[i, j]] \
        + [f"class:{i}" for i in range(len(classes))]
    if st.session_state.get(choice_key(run_dir)) not in options:
        st.session_state.pop(choice_key(run_dir), None)

    def words(option: str) -> str:
        if option == MISTAKES:
            return f"Mistakes: the {len(mistakes(predictions))} wrong answers, the surest first"
        kind, *index = option.split(":")
        if kind == "class":
            return f"Every picture of {classes[int(index[0])]}, its mistakes first"
        i, j = map(int, index)
        said = "right" if i == j else f"called {classes[j]}"
        count = int(counts[i, j])
        return f"{classes[i]}, {said}: {count} picture{'s' * (count != 1)}"

    choice = st.selectbox("Show the pictures", options, format_func=words, key=choice_key(run_dir),
                          help="Or click a cell of the confusion matrix.")
    if choice == MISTAKES:
        shown = mistakes(predictions)
    elif choice.startswith("class:"):
        shown = of_class(predictions, int(choice.split(":")[1]))
    else:
        shown = in_cell(predictions, *map(int, choice.split(":")[1:]))
    if not shown:
        st.caption("No picture here: every answer was right.")
        return
    thumbnails_ui(shown[:SHOWN], classes, image_size)
    if len(shown) > SHOWN:
        st.caption(f"The first {SHOWN} of {len(shown)}.")
    explain_one_ui(run_dir, shown[:SHOWN], classes, image_size)


def thumbnails_ui(shown: list[Prediction], classes: list[str], image_size: int) -> None:
    cache = ImageCache(paths.cache_dir())
    for start in range(0, len(shown), COLUMNS):
        for column, p in zip(st.columns(COLUMNS), shown[start:start + COLUMNS]):
            picture = thumbnail(cache, p, image_size)
            answer = f"{classes[p.predicted]} · {p.confidence:.0%} sure"
            caption = answer if p.right else f"{answer} (it is {classes[p.true]})"
            if picture is None:
                column.caption(f"{Path(p.path).name} cannot be shown any more · {caption}")
            else:
                column.image(picture, caption=caption, width="stretch")


def explain_one_ui(run_dir: Path, shown: list[Prediction], classes: list[str], image_size: int) -> None:
    """Grad-CAM for one of the pictures shown: for the class it was given, or the one it is."""
    if not st.toggle("Show what the network looked at in one of these (Grad-CAM)", key=f"explain_on_{run_dir.name}"):
        return
    index = st.selectbox("Picture", range(len(shown)), key=f"explain_pick_{run_dir.name}",
                         format_func=lambda i: f"picture {i + 1}: {classes[shown[i].true]}, called "
                                               f"{classes[shown[i].predicted]}")
    p = shown[index]
    target = st.radio("Explain", [p.predicted, p.true] if p.predicted != p.true else [p.true], horizontal=True,
                      format_func=lambda c: f"why {classes[c]}", key=f"explain_class_{run_dir.name}")
    picture = thumbnail(ImageCache(paths.cache_dir()), p, image_size)
    if picture is None:
        st.caption("That picture cannot be shown any more.")
        return
    explanation_ui(run_dir, Image.fromarray(np.asarray(picture)), classes[target])


def thumbnail(cache: ImageCache, p: Prediction, image_size: int) -> np.ndarray | Image.Image | None:
    """The picture as the run saw it (from the image cache), else from its file; None when both are gone."""
    try:
        if cache.has(p.key, image_size):
            return cache.load(p.key, image_size)
        with Image.open(p.path) as image:
            return image.convert("RGB").resize((image_size, image_size))
    except (OSError, UnidentifiedImageError, ValueError):
        return None
