"""The Data page's dataset from the camera, Teachable-Machine style: name a class, take its pictures,
name the next; then save them as a dataset like an uploaded one and train at once."""
import io

import streamlit as st

from tlcore.data.picture_file import ImageProblem, load_rgb
from tlcore.data.scan import MIN_IMAGES_PER_CLASS
from tlcore.errors import describe_os_error
from tlcore.data.allowance import upload_allowance
from tlcore.data.uploads import new_upload_dir
from ui.camera_burst import burst_camera
from ui.dataset import scan_and_choose
from ui.people import current_person

TAKEN = "camera_pictures"  # session key: class name -> the JPEG bytes taken so far


def camera_dataset_ui() -> None:
    st.caption("Name a class, point the camera at an example and take a burst of pictures (move it a little "
               "while they are taken), then name the next class. Two classes or more, with at least "
               f"{MIN_IMAGES_PER_CLASS} pictures each. The pictures stay on the computer that runs the studio.")
    taken: dict[str, list[bytes]] = st.session_state.setdefault(TAKEN, {})
    name_column, count_column = st.columns([3, 2])
    name = name_column.text_input("Class being taken", max_chars=60, key="camera_class",
                                  placeholder="for example: thumbs up").strip()
    count = count_column.slider("Pictures per click (a burst)", 1, 30, 10, key="camera_burst_size",
                                help="They are taken a quarter of a second apart.")
    burst, problem = burst_camera(count, ready=bool(name), waiting="Name the class first.", key="camera_burst")
    if problem:
        st.warning(f"The camera could not be opened ({problem}). Allow the camera in the browser's address bar "
                   "and reload, or upload a folder of pictures instead: the other tabs work without it.")
    if burst and name:
        add_burst(taken, name, burst)
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


def add_burst(taken: dict[str, list[bytes]], name: str, burst: list[bytes]) -> None:
    """Add a burst's readable, new pictures to a class, and say what was left out and why."""
    pictures = taken.setdefault(name, [])
    unreadable = repeated = 0
    for data in burst:
        try:
            load_rgb(io.BytesIO(data))  # a picture the studio can read, or a message now rather than at training
        except ImageProblem:
            unreadable += 1
            continue
        # The same picture twice would count once, and in two classes it would teach nothing: say so now.
        if any(data in others for others in taken.values()):
            repeated += 1
        else:
            pictures.append(data)  # the browser's JPEG, as it came
    if repeated:
        st.warning(f"{repeated} of the {len(burst)} pictures were the same as one already taken, and were left "
                   "out: move the camera or the object a little while the pictures are taken.")
    if unreadable:
        st.error(f"{unreadable} of the {len(burst)} pictures could not be read and were left out.")
    if not pictures:
        del taken[name]


def save_taken(taken: dict[str, list[bytes]]) -> None:
    """Write the pictures as a class-folder dataset in the studio's data folder, and choose it."""
    allowance = upload_allowance(current_person())
    if allowance is not None and sum(len(p) for pictures in taken.values() for p in pictures) > allowance.bytes:
        st.error(allowance.refusal)
        return
    try:
        folder = new_upload_dir()  # a folder of its own, made exclusively: two people saving at once never mix
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
