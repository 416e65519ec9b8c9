"""The Data page's second, optional set of pictures: where the model will be used (the target domain)."""
from pathlib import Path

import streamlit as st

from tlcore import paths
from tlcore.data import datasets
from tlcore.data.imagecache import ImageCache
from tlcore.data.manifest import DataError
from tlcore.data.samples import SHIFTS, install_domain_pair
from tlcore.data.scan import scan_target
from tlcore.errors import describe_os_error
from ui.dataset import SCAN_IMAGE_SIZE, allowed_roots, progress_reporter, resolve_server_path, scan_and_choose
from ui.people import current_person
from ui.state import ChosenDataset, ChosenTarget, choose_target, chosen_dataset, chosen_target

DEMO_SHIFT = "textured"
DEMO_LABEL = "Fashion-MNIST, tinted on striped backgrounds"
DEMO_KEY = "demo:"  # the demonstration's target in a tab's URL: its shift, never a folder of the server


def target_ui() -> None:
    st.header("Pictures from where the model will be used (optional)")
    st.caption("A second set of pictures, labelled or not, from where the model will work: another camera, other "
               "light, other backgrounds (the target domain). Domain alignment trains on them without their labels; "
               "when they have class folders named like your classes, every run also reports its accuracy there. "
               "Their labels are never trained on.")
    dataset = chosen_dataset()
    demo_ui()
    if dataset is None:
        st.info("Choose the pictures to train on first; then pictures from where the model will be used.")
        return
    current = chosen_target()
    if current is not None:
        summary_ui(current)
        if st.button("Stop using them", key="forget_target"):
            choose_target(None)
            st.rerun()
    library_choice_ui(dataset)
    server_path_ui(dataset)


def demo_ui() -> None:
    st.markdown(f"**Domain-shift demonstration** · Fashion-MNIST to train on (5 kinds of clothing), and other "
                f"pictures of the same clothes where the model will be used: {SHIFTS[DEMO_SHIFT].lower()}.")
    if not st.button("Use the domain-shift pair", key="use_domain_pair"):
        return
    try:
        with st.spinner("Making the pair of datasets…"):
            source, target = install_domain_pair(DEMO_SHIFT)
    except Exception as error:  # a download can fail in many ways; all mean the same here
        st.error(f"The domain-shift pair could not be made: {error}")
        return
    dataset = scan_and_choose(source, "Fashion-MNIST (5 classes)", kind="fashion-mnist", studio_copy=True)
    if dataset is not None:
        check_target(target, DEMO_LABEL, dataset, DEMO_KEY + DEMO_SHIFT)


def summary_ui(target: ChosenTarget) -> None:
    labels = (f"{target.labelled} of them in folders named like your classes: the runs report their accuracy there"
              if target.labelled else "none labelled with your classes: no accuracy can be measured there")
    st.success(f"Where the model will be used: **{target.label}**, {target.pictures} pictures, {labels}.")
    if target.unknown_classes:
        st.warning(f"Folders your training pictures have no class for: {', '.join(target.unknown_classes)}. Their "
                   "pictures count as unlabelled: used for alignment, not for the accuracy.")


def library_choice_ui(dataset: ChosenDataset) -> None:
    others = [r for r in datasets.list_datasets(current_person()) if r.id != dataset.dataset_id and r.available()]
    if not others:
        return
    by_id = {record.id: record for record in others}
    with st.form("target_from_library"):
        chosen = st.selectbox("One of your datasets", list(by_id), format_func=lambda i: by_id[i].name,
                              key="target_dataset")
        if st.form_submit_button("Use these as the pictures where it will be used"):
            check_target(Path(by_id[chosen].source), by_id[chosen].name, dataset, chosen)


def server_path_ui(dataset: ChosenDataset) -> None:
    roots = allowed_roots()
    if not roots:
        return
    with st.form("target_path"):
        text = st.text_input("Or the full path of a folder or .zip on this computer (class folders or loose "
                             "pictures)", key="target_path_text")
        if st.form_submit_button("Use this folder as the pictures where it will be used"):
            try:
                path = resolve_server_path(text, roots)
            except DataError as error:
                st.error(str(error))
                return
            check_target(path, path.name, dataset, str(path))


def check_target(source: Path, label: str, dataset: ChosenDataset, key: str) -> None:
    """Check the pictures with a progress bar and use them, or say in words why they cannot be.

    key: what the tab's URL keeps to find them again (a library dataset's id, or the folder)."""
    bar = st.progress(0.0, text=f"Checking the pictures of '{label}'…")
    try:
        target = checked_target(source, label, dataset, key,
                                progress_reporter(bar, f"Checking the pictures of '{label}'"))
    except DataError as error:
        st.error(str(error))
        return
    finally:
        bar.empty()
    choose_target(target)
    st.rerun()  # the summary above shows them


def checked_target(source: Path, label: str, dataset: ChosenDataset, key: str, on_progress=None) -> ChosenTarget:
    """The pictures checked against the dataset's classes; DataError, in words, when they cannot be used."""
    if Path(source).resolve() == Path(dataset.manifest.root).resolve():
        raise DataError("These are the training pictures themselves; choose pictures from where the model will be "
                        "used.")
    try:
        target = scan_target(source, classes=dataset.manifest.classes, cache=ImageCache(paths.cache_dir()),
                             image_size=SCAN_IMAGE_SIZE, on_progress=on_progress, link_roots=allowed_roots())
    except OSError as error:
        raise DataError(f"'{label}' could not be checked. {describe_os_error(error)}") from error
    if target.copies_training_pictures(dataset.manifest):
        raise DataError(f"Every picture of '{label}' is also a training picture; choose pictures from where the "
                        "model will be used.")
    return ChosenTarget(str(source), label, len(target.samples), len(target.labelled), target.unknown_classes,
                        dataset.dataset_id, key)


def target_from_key(key: str, dataset: ChosenDataset) -> ChosenTarget | None:
    """The target a reloaded tab's URL names, checked again for this tab's person: a dataset of the library they
    may see, the domain-shift demonstration, or a folder they may open on the server; None for anything else."""
    try:
        if key.startswith(DEMO_KEY):
            source, label = install_domain_pair(key.removeprefix(DEMO_KEY))[1], DEMO_LABEL
        elif (record := datasets.load_record(key, current_person())) is not None:
            source, label = Path(record.source), record.name
        else:
            source = resolve_server_path(key, allowed_roots())  # none for a student on a class server
            label = source.name
        return checked_target(source, label, dataset, key)
    except (DataError, ValueError, OSError):  # not theirs, gone, or not a shift the studio makes
        return None
