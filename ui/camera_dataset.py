"""The Data page's dataset from the camera, Teachable-Machine style: name a class, take its pictures,
name the next; then save them as a dataset like an uploaded one and train at once."""
import time

import streamlit as st

from tlcore import paths
from tlcore.data.imagecache import ImageProblem, load_rgb
from tlcore.data.scan import MIN_IMAGES_PER_CLASS
from tlcore.errors import describe_os_error
from ui.dataset import scan_and_choose

TAKEN = "camera_pictures"  # session key: class name -> list of PNG bytes taken so far
SEEN = "camera_seen"  # session key: the snapshots already added (a rerun shows the same one again)


def camera_dataset_ui() -> None:
    st.caption("Name a class, point the camera at an example and take pictures (each click adds one; move it "
               "a little between clicks), then name the next class. Two classes or more, with at least "
               f"{MIN_IMAGES_PER_CLASS} pictures each. The pictures stay on the computer that runs the studio.")
    taken: dict[str, list[bytes]] = st.session_state.setdefault(TAKEN, {})
    name = st.text_input("Class being taken", max_chars=60, key="camera_class",
                         placeholder="for example: thumbs up").strip()
    snapshot = st.camera_input("Take a picture for this class", key="camera_snapshot", disabled=not name,
                               help="If the browser asks, allow the camera; without one, upload a folder instead.")
    seen: set = st.session_state.setdefault(SEEN, set())
    if snapshot is not None and name and snapshot.file_id not in seen:
        try:
            load_rgb(snapshot)  # a picture the studio can read, or a message now rather than at training
        except ImageProblem as problem:
            st.error(f"That picture could not be read: {problem.reason}")
        else:
            seen.add(snapshot.file_id)
            pictures = taken.setdefault(name, [])
            if snapshot.getvalue() in pictures:  # the same picture twice would count once: say so now
                st.warning("That picture is the same as one already taken for this class: move the camera or the "
                           "object a little, then take another.")
            else:
                pictures.append(snapshot.getvalue())  # the browser's JPEG, as it came
    if not taken:
        return
    st.markdown("  \n".join(f"**{cls}**: {len(pictures)} picture{'s' * (len(pictures) != 1)}"
                            for cls, pictures in taken.items()))
    ready = len(taken) >= 2 and all(len(p) >= MIN_IMAGES_PER_CLASS for p in taken.values())
    save, forget = st.columns(2)
    if save.button("Save as a dataset and use it", type="primary", disabled=not ready, key="camera_save",
                   icon=":material/save:"):
        save_taken(taken)
    if forget.button("Start again", key="camera_forget", icon=":material/delete:"):
        st.session_state[TAKEN] = {}
        st.rerun()


def save_taken(taken: dict[str, list[bytes]]) -> None:
    """Write the pictures as a class-folder dataset in the studio's data folder, and choose it."""
    folder = paths.data_dir() / f"camera-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        used = set()
        for index, (cls, pictures) in enumerate(taken.items()):
            # A typed name is not a safe folder name: unsafe letters are dropped, and a clash numbered.
            folder_name = safe_folder_name(cls, index)
            folder_name = folder_name if folder_name not in used else f"{folder_name} {index + 1}"
            used.add(folder_name)
            target = folder / folder_name
            target.mkdir(parents=True)
            for n, data in enumerate(pictures):
                (target / f"{n + 1:03d}.jpg").write_bytes(data)  # what camera_input gives: a JPEG
    except OSError as error:
        st.error(f"The pictures could not be saved: {describe_os_error(error)}")
        return
    st.session_state[TAKEN] = {}
    scan_and_choose(folder, f"Camera · {', '.join(taken)}", kind="camera", studio_copy=True)


def safe_folder_name(name: str, index: int) -> str:
    """The class's name as a folder name: letters, digits, spaces and - _ kept, the rest dropped."""
    kept = "".join(c for c in name if c.isalnum() or c in " -_").strip()
    return kept or f"class {index + 1}"
