"""Data: bring a dataset in (folder, zip, server folder, ready-made) and check it before training."""
import shutil

import streamlit as st

from tlcore import paths
from tlcore.report import plots
from tlcore.data.imagecache import ImageCache
from tlcore.errors import describe_os_error
from tlcore.data.manifest import DataError
from tlcore.data.samples import DatasetUnavailable, install_cifar10, install_fashion_mnist
from tlcore.data.allowance import upload_allowance
from tlcore.data.picture_file import FORMAT_LIST
from tlcore.data.uploads import Upload, save_folder_upload, save_zip_upload
from ui.target import target_ui
from ui.dataset import VAL_FRACTION, allowed_roots, resolve_server_path, scan_and_choose, use_sample
from ui.dataset_library import library_message_ui, library_ui
from ui.glossary import explain
from ui.camera_dataset import camera_dataset_ui
from ui.label_check import label_check_ui
from ui.state import ChosenDataset, DataProblem, chosen_dataset, data_problem, refuse_dataset
from ui.people import current_person

UPLOADER_GENERATION = "uploader_generation"
PENDING_SCAN = "pending_scan"
THUMBNAILS_PER_CLASS = 8
CLASSES_IN_GRID = 12


# -- the ways in ----------------------------------------------------------------------------------

def sources_ui() -> None:
    st.caption(f"Pictures read: {', '.join(FORMAT_LIST)}. Other files are skipped and listed with the reason.")
    # Short words: all five tabs fit a 390 px phone's width (longer ones pushed two out of sight).
    folder, archive, server, ready, camera = st.tabs(["Folder", "Zip", "Folder path", "Ready-made", "Take pictures"])
    with folder:
        folder_upload_ui()
    with archive:
        zip_upload_ui()
    with server:
        server_path_ui()
    with ready:
        ready_made_ui()
    with camera:
        camera_dataset_ui()


def folder_upload_ui() -> None:
    st.caption("Upload a folder that holds one sub-folder per category (cats/, dogs/, …), "
               "or train/ and val/ folders that each hold them.")
    files = st.file_uploader("Folder of images", accept_multiple_files="directory",
                             key=_uploader_key("folder"))
    if files:
        _save_upload(lambda: save_folder_upload(files, allowance=upload_allowance(current_person())),
                     "the uploaded folder", "upload")


def zip_upload_ui() -> None:
    st.caption("Upload a .zip of such a folder. It is unpacked safely on the server.")
    file = st.file_uploader("Zip file", type=["zip"], key=_uploader_key("zip"))
    if file is not None:
        _save_upload(lambda: save_zip_upload(file, allowance=upload_allowance(current_person())), file.name, "zip")


def server_path_ui() -> None:
    roots = allowed_roots()
    if not roots:
        st.info("Opening folders on the server is switched off because this app is served on a network. "
                "Whoever runs it can allow folders with the TLSTUDIO_ALLOWED_ROOTS setting.")
        return
    st.caption("For big datasets: nothing is uploaded. Allowed places: "
               + ", ".join(f"`{root}`" for root in roots))
    with st.form("server_path"):
        text = st.text_input("Full path of a folder or .zip on this computer", placeholder=str(roots[0]),
                             key="server_path_text")
        if st.form_submit_button("Use this folder"):
            try:
                path = resolve_server_path(text, roots)
            except DataError as error:
                refuse_dataset(DataProblem(text, str(error)))
            else:
                scan_and_choose(path, path.name, kind="folder")


def ready_made_ui() -> None:
    sample, fashion, cifar = st.columns(3)
    with sample:
        st.markdown("**Fashion sample** · 5 kinds of clothing · 200 small pictures · built in")
        if st.button("Use the sample", key="use_sample"):
            use_sample()
    with fashion:
        st.markdown("**Fashion-MNIST** · the same 5 kinds · 40 to train and 100 to check on, each")
        if st.button("Use Fashion-MNIST", key="use_fashion_mnist"):
            try:
                with st.spinner("Getting Fashion-MNIST…"):
                    folder = install_fashion_mnist()
            except Exception as error:  # a download can fail in many ways; all mean the same here
                refuse_dataset(DataProblem("Fashion-MNIST", f"Fashion-MNIST could not be fetched: {error}"))
            else:
                scan_and_choose(folder, "Fashion-MNIST (5 classes)", kind="fashion-mnist", studio_copy=True)
    with cifar:
        st.markdown("**CIFAR-10** · 5 kinds of photos (dog, frog, horse, ship, truck) · 40 and 100 each · "
                    "downloaded once (170 MB)")
        if st.button("Use CIFAR-10", key="use_cifar10"):
            try:
                with st.spinner("Getting CIFAR-10…"):
                    folder = install_cifar10()
            except DatasetUnavailable as error:  # said here: the dataset chosen before stays chosen
                st.error(str(error))
            except OSError as error:  # writing its pictures: a full disk, a folder that may not be written
                st.error(f"CIFAR-10 could not be saved: {describe_os_error(error)}")
            else:
                scan_and_choose(folder, "CIFAR-10 (5 classes)", kind="cifar-10", studio_copy=True)


def _uploader_key(kind: str) -> str:
    # A new key empties the uploader, so the server stops holding the uploaded bytes in memory.
    return f"{kind}_upload_{st.session_state.get(UPLOADER_GENERATION, 0)}"


def _save_upload(save, label: str, kind: str) -> None:
    """Write an upload to disk once, reset the uploaders, and scan it on the rerun."""
    try:
        with st.spinner("Saving the upload…"):
            upload: Upload = save()
    except DataError as error:
        refuse_dataset(DataProblem(label, str(error), error.skipped))
    except OSError as error:  # a full disk, a data folder that cannot be written
        refuse_dataset(DataProblem(label, f"'{label}' could not be saved. {describe_os_error(error)}"))
    else:
        st.session_state[PENDING_SCAN] = (upload, kind)
    st.session_state[UPLOADER_GENERATION] = st.session_state.get(UPLOADER_GENERATION, 0) + 1
    st.rerun()


def pending_scan_ui() -> None:
    pending: tuple[Upload, str] | None = st.session_state.pop(PENDING_SCAN, None)
    if pending is None:
        return
    upload, kind = pending
    if scan_and_choose(upload.path, upload.name, upload.skipped, kind=kind, studio_copy=True) is None:
        shutil.rmtree(upload.path, ignore_errors=True)  # refused: a new upload is needed anyway


# -- the pre-flight report -------------------------------------------------------------------------

def report_ui() -> None:
    problem = data_problem()
    if problem is not None:
        st.error(problem.message)
        skipped_ui(problem.skipped)
        return
    dataset = chosen_dataset()
    if dataset is None:
        st.info("No dataset chosen yet. Use one of the ways above.")
        return
    st.header(f"Check before training: {dataset.label}")
    if dataset.note:
        st.info(dataset.note)
        dataset.note = None  # said once, when it was chosen
    summary_ui(dataset)
    for warning in dataset.manifest.warnings:
        st.warning(warning)
    counts, split = st.columns([3, 2])
    counts.plotly_chart(plots.class_counts_figure(dataset.manifest.counts()), key="class_counts")
    with split:
        split_table_ui(dataset)
    sample_grid_ui(dataset)
    label_check_ui(dataset)
    skipped_ui(dataset.upload_skipped + dataset.manifest.skipped)


def summary_ui(dataset: ChosenDataset) -> None:
    manifest = dataset.manifest
    classes, train, val, skipped = st.columns(4)
    classes.metric("Classes", len(manifest.classes), help=explain("class"))
    train.metric("Pictures to learn from", dataset.size("train"), help="The training pictures.")
    val.metric("Pictures to check on", dataset.size("val"), help=explain("validation"))
    skipped.metric("Files skipped", len(dataset.upload_skipped) + len(manifest.skipped))
    how = "as its train/ and val/ folders say" if manifest.split_given else \
        f"at random ({VAL_FRACTION:.0%} of each class), the same every time"
    st.caption(f"Pictures to check on (validation) are never trained on; they measure the model. Kept aside {how}.")
    st.page_link("app_pages/train.py", label="Looks good: choose how to train", icon=":material/arrow_forward:")


def split_table_ui(dataset: ChosenDataset) -> None:
    counts = dataset.manifest.counts()
    rows = [{"class": name, **splits, "total": sum(splits.values())} for name, splits in counts.items()]
    st.dataframe(rows, hide_index=True, key="split_table")


def sample_grid_ui(dataset: ChosenDataset) -> None:
    manifest = dataset.manifest
    cache = ImageCache(paths.cache_dir())
    st.subheader("A few images of each class")
    for label, name in enumerate(manifest.classes[:CLASSES_IN_GRID]):
        keys = [s.key for s in manifest.samples if s.label == label][:THUMBNAILS_PER_CLASS]
        thumbnails = []
        for key in keys:
            try:
                thumbnails.append(cache.load(key, manifest.image_size))
            except (OSError, ValueError):  # the cache was cleared since the scan: show what is left
                pass
        st.markdown(f"**{name}**")
        if thumbnails:
            st.image(thumbnails, width=72)
    hidden = len(manifest.classes) - CLASSES_IN_GRID
    if hidden > 0:
        st.caption(f"…and {hidden} more classes.")


def skipped_ui(skipped) -> None:
    if not skipped:
        return
    with st.expander(f"{len(skipped)} file(s) skipped, and why", expanded=len(skipped) <= 10):
        st.dataframe([{"file": s.path, "reason": s.reason} for s in skipped], hide_index=True,
                     key="skipped_files")


st.title("Data")
library_message_ui()
pending_scan_ui()
library = st.container()  # drawn last, so a dataset added below on this run is already listed
st.header("Add a dataset")
sources_ui()
report_ui()
target_ui()
with library:
    library_ui()
