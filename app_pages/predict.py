"""Predict & export: try a finished run's model on new images, and download it as one zip."""
import streamlit as st

from tlcore.data import IMAGE_EXTENSIONS
from tlcore.errors import describe_os_error
from tlcore.export import FORMATS, export_zip
from tlcore.imagecache import ImageProblem, load_rgb
from tlcore.runs import RunSummary, list_runs
from ui import format as fmt
from ui.resources import predictor
from ui.run_picker import run_picker_ui

EXPORTS = "export_zip"
FORMAT_WORDS = {"torchscript": "TorchScript (.pt)", "pt2": "torch.export (.pt2)", "onnx": "ONNX (.onnx)"}


def finished_runs() -> list[RunSummary]:
    return [run for run in list_runs() if run.state == "succeeded" and (run.run_dir / "model_best.pt").is_file()]


def model_line(run: RunSummary) -> str:
    return f"{fmt.run_title(run)} · accuracy {fmt.percent(run.status.get('best_val_acc'))}"


def predict_ui(run: RunSummary) -> None:
    st.header("Try it on new images")
    model_file = run.run_dir / "model_best.pt"
    try:
        model = predictor(str(run.run_dir), model_file.stat().st_mtime)
    except (OSError, ValueError, RuntimeError) as error:
        st.error(f"The model of this run could not be loaded: {error}")
        return
    st.caption(f"It knows {len(model.labels)} classes: {', '.join(model.labels)}.")
    files = st.file_uploader("Images", type=sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS),
                             accept_multiple_files=True, key=f"predict_images_{run.run_id}")
    for file in files or []:
        picture, answer = st.columns([1, 3])
        try:
            image = load_rgb(file)  # decoded from the upload in memory: nothing is written to disk
        except ImageProblem as problem:
            picture.error(f"{file.name}: {problem.reason}")
            continue
        picture.image(image, width=160, caption=file.name)
        top = model.predict_image(image)
        best = top[0]
        answer.markdown(f"**{best['label']}** · {fmt.percent(best['probability'])}")
        answer.dataframe([{"class": t["label"], "probability": t["probability"]} for t in top],
                         hide_index=True, key=f"top_{run.run_id}_{file.file_id}",
                         column_config={"probability": st.column_config.ProgressColumn(
                             format="percent", min_value=0.0, max_value=1.0)})


def export_ui(run: RunSummary) -> None:
    st.header("Download the model")
    st.caption("One zip with the model in the formats you pick, labels.json (the class names in order) "
               "and preprocessing.json (how to prepare an image for it).")
    formats = st.multiselect("Formats", list(FORMATS), default=list(FORMATS), format_func=FORMAT_WORDS.get)
    exports = st.session_state.setdefault(EXPORTS, {})
    key = (run.run_id, tuple(formats))
    if st.button("Prepare the download", icon=":material/package_2:", disabled=not formats):
        try:
            with st.spinner("Exporting the model (a few seconds)…"):
                exports.clear()  # one zip held per session: they are tens of MB
                exports[key] = export_zip(run.run_dir, formats=tuple(formats))
        except OSError as error:  # a full disk, a run folder that cannot be written
            st.error(f"The export failed. {describe_os_error(error)}")
        except (ImportError, RuntimeError, ValueError) as error:
            st.error(f"The export failed: {error}")
    if key in exports:
        data = exports[key]
        st.download_button(f"Download {run.run_id}.zip ({len(data) / 1024**2:.1f} MB)", data,
                           file_name=f"{run.run_id}.zip", mime="application/zip", type="primary",
                           icon=":material/download:")


st.title("Predict & export")
runs = finished_runs()
if not runs:
    st.info("No finished run yet: a model appears here once a run has succeeded.")
    st.page_link("app_pages/train.py", label="Start a run on the Train page", icon=":material/model_training:")
else:
    chosen_run = run_picker_ui(runs, "Model of run", key="predict_run_picker", describe=model_line,
                               warn_missing=False)  # an unfinished run is simply not offered yet
    predict_ui(chosen_run)
    export_ui(chosen_run)
