"""The Data page's "Check the labels": the pictures whose labels look wrong, to relabel or leave out,
kept as corrections beside the studio's record of the dataset (its pictures are never touched), with
undo; and the dataset as runs train on it, with the corrections applied."""
from pathlib import Path

import streamlit as st

from tlcore import paths
from tlcore.config import ConfigError
from tlcore.data.datasets import DatasetRecord, load_record, save_corrections
from tlcore.data.imagecache import ImageCache
from tlcore.data.manifest import DataError, Manifest
from tlcore.data.overrides import EXCLUDE, Overrides, load_overrides
from tlcore.device import resolve_device
from tlcore.errors import InputError, describe_os_error
from tlcore.people.person import may_change
from ui.glossary import label
from ui.people import current_person
from ui.state import ChosenDataset

SHOWN = 12  # suspicious pictures shown at first, and added by each "Show more"
RESULT = "label_check"  # session key: (dataset id, corrections made, the check's result)
SHOWING = "label_check_showing"  # session key: how many of the open suspects are shown


def corrections_of(dataset: ChosenDataset) -> Overrides:
    """The person's corrections to a library dataset (none for a dataset outside the library)."""
    record = load_record(dataset.dataset_id, current_person()) if dataset.dataset_id else None
    return load_overrides(record.folder) if record is not None else Overrides()


def corrected_manifest(dataset: ChosenDataset) -> Manifest:
    """The dataset as runs train on it: the person's relabellings and pictures left out applied.
    Raises ConfigError when a correction names a class the dataset no longer has."""
    return corrections_of(dataset).apply(dataset.manifest)


def trained_sizes(dataset: ChosenDataset) -> tuple[int, int]:
    """(pictures to learn from, pictures to check on) as runs train on them: the person's corrections applied."""
    trained = corrected_manifest(dataset)
    return len(trained.split("train")), len(trained.split("val"))


def label_check_ui(dataset: ChosenDataset) -> None:
    record = load_record(dataset.dataset_id, current_person()) if dataset.dataset_id else None
    if record is None:
        return
    st.subheader("Labels that look wrong")
    if not may_change(current_person(), record.owner):
        st.caption("This dataset was shared by your teacher: its labels are the teacher's to correct.")
        return
    overrides = load_overrides(record.folder)
    corrections_ui(dataset, overrides, record)
    if st.button("Check the labels", icon=":material/fact_check:",
                 help="Each picture is compared with the others through the network's eyes; the ones its class "
                      "does not vouch for come first (cleanlab on k-fold probabilities). Takes seconds."):
        from tlcore.serve.labels import check_labels  # here: cleanlab and scikit-learn take 2 s to import

        try:
            with st.spinner("Comparing every picture with the others…"):
                found = check_labels(overrides.apply(dataset.manifest), device=_device())
        except (DataError, ConfigError, ValueError) as error:
            st.error(f"The labels could not be checked: {error}")
            return
        except OSError as error:
            st.error(f"The labels could not be checked: {describe_os_error(error)}")
            return
        st.session_state[RESULT] = (dataset.dataset_id, len(overrides.changes), found)
        st.session_state[SHOWING] = SHOWN
    kept = st.session_state.get(RESULT)
    if not kept or kept[0] != dataset.dataset_id:
        return
    suspects_ui(dataset, record, overrides, kept[2])


def suspects_ui(dataset: ChosenDataset, record: DatasetRecord, overrides: Overrides, found) -> None:
    """The suspicious pictures not corrected yet, the most suspicious first, a page at a time."""
    done = overrides.current()
    open_ = [s for s in found.suspects if s.key not in done]
    showing = min(st.session_state.get(SHOWING, SHOWN), len(open_))
    st.caption(f"{len(found.suspects)} of {found.pictures} pictures look mislabelled ({found.seconds:.0f} s, "
               f"{found.folds}-fold). The most suspicious first; relabel one, leave it out, or leave it as it is.")
    cache = ImageCache(paths.cache_dir())
    by_key = {s.key: s for s in dataset.manifest.samples}
    for suspect in open_[:showing]:
        suspect_ui(dataset, record, overrides, suspect, cache, by_key.get(suspect.key))
    if len(open_) > showing:
        st.caption(f"Showing {showing} of the {len(open_)} still to look at.")
        st.button(f"Show {min(SHOWN, len(open_) - showing)} more", icon=":material/expand_more:",
                  key="label_check_more", on_click=_show_more)


def suspect_ui(dataset: ChosenDataset, record: DatasetRecord, overrides: Overrides, suspect, cache: ImageCache,
               sample) -> None:
    """One suspicious picture: its thumbnail, its file, both classes, and what can be done about it."""
    picture, words, actions = st.columns([1, 3, 3])
    try:
        picture.image(cache.load(suspect.key, dataset.manifest.image_size), width=72)
    except (OSError, ValueError):
        picture.caption("(no picture)")
    words.text(picture_name(suspect.path, dataset.manifest.root))
    words.markdown(f"labelled **{suspect.given}**, looks like **{suspect.suggested}** · label quality "
                   f"{suspect.score:.2f}")
    if sample is None:
        return
    choice = actions.selectbox(label("Its class", "relabel"), dataset.manifest.classes,
                               index=dataset.manifest.classes.index(suspect.suggested),
                               key=f"relabel_{suspect.key}", label_visibility="collapsed")
    relabel, leave_out = actions.columns(2)
    if relabel.button(f"Relabel as {choice}", key=f"do_relabel_{suspect.key}"):
        _change(record, overrides, lambda o: o.relabel(sample, choice, dataset.manifest.classes))
    if leave_out.button("Leave it out", key=f"do_exclude_{suspect.key}"):
        _change(record, overrides, lambda o: o.exclude(sample))


def picture_name(path: str, root: str) -> str:
    """A picture's file as the person finds it in their dataset: its path inside the dataset's folder
    (the class folder, then the name)."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:  # a picture kept elsewhere: its class folder and name
        return "/".join(Path(path).parts[-2:])


def _show_more() -> None:
    st.session_state[SHOWING] = st.session_state.get(SHOWING, SHOWN) + SHOWN


def corrections_ui(dataset: ChosenDataset, overrides: Overrides, record: DatasetRecord) -> None:
    current = overrides.current()
    if not current:
        return
    left_out = sum(change["action"] == EXCLUDE for change in current.values())
    st.info(f"Your corrections: {len(current) - left_out} picture(s) relabelled, {left_out} left out. Runs train "
            "with them; the picture files themselves are untouched.")
    with st.expander("The corrections"):
        st.dataframe([{"picture": c["path"], "change": "left out" if c["action"] == EXCLUDE else f"now {c['to']}"}
                      for c in current.values()], hide_index=True, key="corrections_table")
    if st.button("Undo the last correction", icon=":material/undo:", key="undo_correction"):
        _change(record, overrides, lambda o: o.undo())


def _change(record: DatasetRecord, overrides: Overrides, change) -> None:
    try:
        change(overrides)
        save_corrections(record, overrides, current_person())
    except InputError as error:  # a class that is gone, or a dataset that is not theirs to correct
        st.error(str(error))
        return
    except OSError as error:
        st.error(f"The correction could not be saved: {describe_os_error(error)}")
        return
    st.rerun()


def _device():
    return resolve_device("auto")  # where a run would train: the GPU when there is one
