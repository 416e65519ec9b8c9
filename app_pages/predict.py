"""Predict & export: try a finished run's model on new images, and download it as one zip."""
import time

import streamlit as st

from tlcore.data.decoding import IMAGE_EXTENSIONS
from tlcore.errors import describe_os_error
from tlcore.serve.export import FORMATS, export_zip
from tlcore.serve.predictor import none_of_these, sure_answer
from tlcore.data.picture_file import ImageProblem, load_rgb
from tlcore.runs import RunSummary, list_runs
from tlcore.serve.webvendor import VendorUnavailable, find_web_runtime
from tlcore.runs import RunFolder
from ui import format as fmt
from ui.glossary import explain
from ui.explanation import explanation_ui
from ui.resources import predictor
from ui.run_picker import run_picker_ui
from ui.people import current_person

EXPORTS = "export_zip"
FORMAT_WORDS = {"torchscript": "TorchScript (.pt), for PyTorch", "pt2": "torch.export (.pt2), for PyTorch 2",
                "onnx": "ONNX (.onnx), for other programs and the web page"}
NOT_SURE_HELP = ("How sure the model must be before it names a class: the probability of its best class "
                 "(its confidence). Below this, it answers “I’m not sure” and still shows its guesses.")
CALIBRATED_HELP = (" The probabilities were checked after training on the pictures held back (temperature "
                   "scaling): of the answers given at 80%, about 80% are right.")
FAMILIAR_HELP = ("Familiar: how much the picture looks like the pictures the model learned from, next to the "
                 "pictures held back to check it (0% is less like them than all of those, 50% like a typical one). "
                 "A picture less familiar than nearly all of them is probably of none of its classes.")


def finished_runs() -> list[RunSummary]:
    """Runs with a model to try: finished ones, and cancelled ones that kept their best model so far."""
    return [run for run in list_runs(person=current_person())
            if run.state in ("succeeded", "cancelled") and RunFolder(run.run_dir).has_model()]


def model_line(run: RunSummary) -> str:
    stopped = " · stopped before the end" if run.state == "cancelled" else ""
    return f"{fmt.run_title(run)} · accuracy {fmt.percent(run.status.get('best_val_acc'))}{stopped}"


def predict_ui(run: RunSummary) -> dict:
    """Try the model; returns the confidences asked (for all classes, and of some), for the download."""
    st.header("Try it on new images")
    if run.state == "cancelled":
        rounds = run.status.get("epochs_run")
        st.info(f"This run was stopped before the end{f', after {rounds} rounds' if rounds else ''}: this is its "
                f"best model so far (round {run.status.get('best_epoch', '?')}), not a finished one.")
    model_file = RunFolder(run.run_dir).model_path
    try:
        model = predictor(str(run.run_dir), model_file.stat().st_mtime)
    except (OSError, ValueError, RuntimeError) as error:
        st.error(f"The model of this run could not be loaded: {error}")
        return {}
    st.caption(f"It knows {len(model.labels)} classes: {', '.join(model.labels)}.")
    min_confidence = st.slider("Say “I’m not sure” below this confidence", min_value=0, max_value=100, value=50,
                               step=5, format="%d%%", key="min_confidence",
                               help=NOT_SURE_HELP + (CALIBRATED_HELP if model.temperature != 1.0 else "")) / 100
    per_class = class_confidence_ui(run, model.labels)
    files = st.file_uploader("Images", type=sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS),
                             accept_multiple_files=True, key=f"predict_images_{run.run_id}")
    pictures = [(file.name, file, file.file_id) for file in files or []]
    if st.toggle("Use the camera", key=f"camera_on_{run.run_id}",
                 help="Point the camera at something and take a picture: the model says what it sees. Your browser "
                      "asks first; the picture stays on this computer."):
        snapshot = st.camera_input("Take a picture", key=f"camera_{run.run_id}",
                                   help="Without a camera, or if the browser was not allowed to use it, upload "
                                        "pictures above instead.")
        if snapshot is not None:
            pictures.insert(0, ("camera snapshot", snapshot, snapshot.file_id))
    for name, source, file_id in pictures:
        answer_ui(run, model, name, source, file_id, min_confidence, per_class)
    return {"min_confidence": min_confidence, "class_min_confidence": per_class}


def class_confidence_ui(run: RunSummary, labels: list[str]) -> dict[str, float]:
    """The confidence asked of some classes in place of the slider's: a mistake on one class may cost more
    than on another. Kept for this run in this tab, and in the model downloaded from here."""
    with st.expander("A different confidence for some classes"):
        chosen = st.multiselect("Classes", labels, key=f"class_confidence_{run.run_id}",
                                placeholder="Pick the classes that need their own confidence",
                                help="For a class named here, the model says “I’m not sure” below this class's "
                                     "confidence instead of the one above; the downloaded model does the same.")
        return {label: st.slider(f"Name “{label}” only from this confidence", min_value=0, max_value=100, value=80, step=5,
                                 format="%d%%", key=f"class_confidence_{run.run_id}_{index}") / 100
                for index, label in enumerate(labels) if label in chosen}


def answer_ui(run: RunSummary, model, name: str, source, file_id: str, min_confidence: float,
              per_class: dict[str, float]) -> None:
    """One picture (an upload or a camera snapshot, decoded in memory: nothing is written to disk), the
    model's answer, and what it looked at on demand."""
    picture, answer = st.columns([1, 3])
    try:
        image = load_rgb(source)
    except ImageProblem as problem:
        picture.error(f"{name}: {problem.reason}")
        return
    picture.image(image, width=160, caption=name)
    said = model.answer_image(image)
    top, familiar = said["top"], said["familiar"]
    best = top[0]
    if sure_answer(top, min_confidence, familiar, model.familiar_threshold, per_class)["sure"]:
        answer.markdown(f"**{best['label']}** · {fmt.percent(best['probability'])}")
    elif none_of_these(familiar, model.familiar_threshold):
        answer.markdown(f"**None of these** · it looks unlike the pictures the model learned from (familiar "
                        f"{fmt.percent(familiar)}); best guess {best['label']} at {fmt.percent(best['probability'])}",
                        help=FAMILIAR_HELP)
    else:
        asked = per_class.get(best["label"], min_confidence)
        answer.markdown(f"**I’m not sure** · best guess {best['label']} at {fmt.percent(best['probability'])}, "
                        f"below the {asked:.0%} you set")
    answer.dataframe([{"class": t["label"], "probability": t["probability"]} for t in top],
                     hide_index=True, key=f"top_{run.run_id}_{file_id}",
                     column_config={"probability": st.column_config.ProgressColumn(
                         format="percent", min_value=0.0, max_value=1.0)})
    if answer.toggle("Show what the network looks at (Grad-CAM)", key=f"grad_cam_{run.run_id}_{file_id}"):
        explain_ui(run, image, model.labels, best["label"], key=f"{run.run_id}_{file_id}")


def explain_ui(run: RunSummary, image, labels: list[str], predicted: str, key: str) -> None:
    """The picture beside a heat map of the places that raised a class's score the most."""
    label = st.selectbox("Explain the class", labels, index=labels.index(predicted), key=f"explain_{key}",
                         help=f"{explain('Grad-CAM')} The class the model gave the picture is chosen first.")
    explanation_ui(run.run_dir, image, label)


@st.cache_data(ttl=60, show_spinner=False)
def web_page_problem() -> str | None:
    """Why exports would have no web page here (onnxruntime-web not fetched), or None."""
    try:
        find_web_runtime()
    except VendorUnavailable as problem:
        return str(problem)
    return None


def export_ui(run: RunSummary, asked: dict) -> None:
    """The download; asked: the confidences set above, which the downloaded model's web page starts from."""
    st.header("Download the model")
    st.caption("One zip with the model in the formats you pick; a README that says how to use it (the class "
               "names, how to prepare a picture, a few lines of Python); predict.py, a small program that names "
               "what is in pictures; and a web page that runs the model in a browser, offline, on the camera "
               "or a picture.")
    formats = st.multiselect("Formats", list(FORMATS), default=list(FORMATS), format_func=FORMAT_WORDS.get,
                             key="export_formats")
    if "onnx" not in formats:
        st.caption("No web page in this zip: it runs the ONNX model. Pick ONNX to have it.")
    elif problem := web_page_problem():
        st.warning(f"The zip will have no web page: {problem}. Everything else will be there.",
                   icon=":material/web_asset_off:")
    exports = st.session_state.setdefault(EXPORTS, {})
    key = (run.run_id, tuple(formats), repr(sorted(asked.items())))
    if st.button("Prepare the download", icon=":material/package_2:", disabled=not formats):
        exports.clear()  # one zip held per session: they are tens of MB
        made = export_with_progress(run, formats, asked)
        if made is not None:
            exports[key] = made
    if key in exports:
        data, steps = exports[key]
        st.caption("Made in " + fmt.duration(sum(seconds for _, seconds in steps)) + ": "
                   + " · ".join(f"{name} {fmt.duration(seconds)}" for name, seconds in steps) + ".")
        file_name = f"{fmt.file_name(run)}.zip"
        st.download_button(f"Download {file_name} ({len(data) / 1024**2:.1f} MB)", data,
                           file_name=file_name, mime="application/zip", type="primary",
                           icon=":material/download:")


def export_with_progress(run: RunSummary, formats: list[str], asked: dict) -> tuple[bytes, list[tuple[str, float]]] | None:
    """Export with a bar that names the step being done; returns the zip and each step's seconds."""
    bar = st.progress(0.0, text="Starting the export…")
    started: list[tuple[str, float]] = []

    def on_progress(step: int, total: int, name: str) -> None:
        started.append((name, time.monotonic()))
        bar.progress((step - 1) / total, text=f"Step {step} of {total}: {name}…")

    try:
        data = export_zip(run.run_dir, formats=tuple(formats), on_progress=on_progress, title=fmt.run_name(run),
                          **asked)
    except OSError as error:  # a full disk, a run folder that cannot be written
        st.error(f"The export failed. {describe_os_error(error)}")
        return None
    except (ImportError, RuntimeError, ValueError) as error:
        st.error(f"The export failed: {error}")
        return None
    finally:
        bar.empty()
    ends = [at for _, at in started[1:]] + [time.monotonic()]
    return data, [(name, end - at) for (name, at), end in zip(started, ends)]


st.title("Predict & export")
runs = finished_runs()
if not runs:
    st.info("No finished run yet: a model appears here once a run has succeeded, or a run stopped before the "
            "end has kept its best model so far.")
    st.page_link("app_pages/train.py", label="Start a run on the Train page", icon=":material/model_training:")
else:
    chosen_run = run_picker_ui(runs, "Model of run", key="predict_run_picker", describe=model_line,
                               warn_missing=False)  # an unfinished run is simply not offered yet
    export_ui(chosen_run, predict_ui(chosen_run))
