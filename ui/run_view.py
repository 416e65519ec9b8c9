"""A run's live view, rebuilt from its folder on every refresh: progress, curves, confusion, scores.

While the run trains the view is a fragment that reruns every LIVE_REFRESH_S (less often while it waits
its turn); when its state changes it asks for one full rerun, and once it has ended it no longer refreshes.
"""
from pathlib import Path

import streamlit as st

from tlcore.config import RunConfig
from tlcore.data.manifest import PICTURES_CHANGED
from tlcore.report import plots
from tlcore.report.compare import guessing_warning
from tlcore.report.reliability_plot import reliability_figure
from tlcore.runs import RunFolder, list_runs
from tlcore.runs.store.sources import started_from
from tlcore.people.person import may_change
from tlcore.runs.store.owners import run_owner
from tlcore.runs.supervision.dispatch import queue_waits
from ui import format as fmt
from ui.errors import shielded
from ui.glossary import explain
from ui.people import class_name, current_person
from ui.feature_map import feature_map_ui
from ui.pictures import pictures_ui, select_cell
from ui.progress import progress_text, refresh_every, rounds_text
from ui.resources import get_runner
from ui.state import event_log

LOG_TAIL_LINES = 30


def run_view_ui(run_dir: Path) -> None:
    """The live view of one run; refreshes itself while the run is not finished (slower while it waits)."""
    state = RunFolder(run_dir).read_status().get("state")
    st.fragment(shielded(_run_view), run_every=refresh_every({state}))(str(run_dir), state)


def _run_view(run_dir: str, was_state: str | None) -> None:
    run_dir = Path(run_dir)
    status = RunFolder(run_dir).read_status()
    state = status.get("state")
    if state != was_state:
        st.rerun()  # it started or ended: a full rerun updates the runs table and this view's pace
    header_ui(run_dir, status)
    if state in ("queued", "running"):
        progress_ui(run_dir, status)
    else:
        outcome_ui(run_dir, status)
    events = event_log(run_dir).events
    curves_ui(run_dir, events)
    confusion_ui(run_dir, events, status)
    if state == "succeeded":
        honesty_ui(run_dir, status)


def header_ui(run_dir: Path, status: dict) -> None:
    """The run's name (starred or not), its settings in one line, and the person's note."""
    summary = next((run for run in list_runs(run_dir.parent) if run.run_id == run_dir.name), None)
    if summary is None or summary.config is None:
        st.subheader(run_dir.name)
        st.caption("The run's settings could not be read.")
        return
    config = summary.config
    st.subheader(("★ " if fmt.is_starred(summary) else "") + fmt.run_name(summary))
    device = (status.get("device") or {}).get("label", config.device)
    facts = [fmt.backbone_words(config.backbone), fmt.strategy_words(config.strategy), rounds_text(config),
             f"{config.image_size} px", f"{config.batch_size} pictures per step",
             f"last layer: {fmt.head_words(config.head)}", device, f"run `{run_dir.name}`"]
    if config.augment_views:
        facts.insert(3, f"{config.augment_views} varied copies of each picture")
    if config.tta:
        facts.insert(3, "checked with mirror images too (TTA)")
    if config.processes > 1:
        facts.insert(-1, f"{config.processes} processes together (data-parallel)")
    st.caption(" · ".join(facts))
    st.caption(f"Started from: {fmt.chain_text(started_from(run_dir, config))}", help=explain("starting point"))
    if config.joint_with:
        st.caption(f"Also learned at the same time: {Path(config.joint_with).name}, through a last layer of its own "
                   "(joint training).", help=explain("joint training"))
    if status.get("balanced"):
        why = "as asked" if config.balance == "on" else "as their sizes differ by more than a factor of two"
        st.caption(f"Every class was drawn equally often while training, {why} (class balancing).",
                   help=explain("class balancing"))
    corrections = config.extra.get("label_corrections")
    if isinstance(corrections, int) and corrections > 0:
        st.caption(f"Trained with your label corrections: {corrections} picture{'s' * (corrections != 1)} "
                   "relabelled or left out (Data page, Labels that look wrong).")
    if summary.notes and summary.notes.note:
        st.markdown(f":material/edit_note: {summary.notes.note}")


def progress_ui(run_dir: Path, status: dict) -> None:
    if status.get("state") == "queued":
        place, starts_in = queue_waits(list_runs(run_dir.parent)).get(run_dir.name, (None, None))
        st.info(f"Waiting for its turn: {fmt.state_text('queued', place, starts_in)}. On each device, runs train "
                "one at a time" + (", taking turns between people." if class_name() else "."))
    else:
        fraction, text = progress_text(status)
        st.progress(min(max(fraction, 0.0), 1.0), text=text)
    person = current_person()
    if may_change(person, run_owner(run_dir)[0]):
        st.button("Cancel this run", key=f"cancel_{run_dir.name}", icon=":material/stop_circle:",
                  on_click=get_runner().cancel, args=(run_dir.name, person))


def outcome_ui(run_dir: Path, status: dict) -> None:
    state = status.get("state")
    took = fmt.duration(fmt.run_seconds(status))
    if status.get("damaged") and not (status.get("error") or "").startswith(status["damaged"]):
        st.warning(status["damaged"])
    if state == "succeeded":
        st.success(f"Finished in {took}: right on {fmt.percent(status.get('best_val_acc'))} of the pictures kept "
                   f"aside to check it (best validation accuracy), in round {status.get('best_epoch')} of "
                   f"{status.get('epochs_run')}; that round's model is the one kept.")
        if status.get("best_phase") == "head" and (status.get("body_distance") is not None):
            st.info("The kept model comes from the warm-up of the new last layer, before the network itself "
                    "adjusted: adjusting it did not score better on the pictures kept aside. It is a feature "
                    "extraction model.")
        if "meta_last_acc" in status:
            st.info(practice_text(status))
        if "best_target_acc" in status:
            st.info(target_text(run_dir, status))
        if status.get("stopped_early") and ended_before_its_rounds(event_log(run_dir).events):
            st.info(early_stop_text(run_dir, status))
        warning = guessing_warning(event_log(run_dir).events, status)
        if warning:
            st.warning(warning)
        st.page_link("app_pages/predict.py", label="Try it on new images and download the model",
                     icon=":material/arrow_forward:", query_params={"run": run_dir.name})
    elif state == "cancelled":
        st.info(f"Cancelled after {took}.")
        if RunFolder(run_dir).has_model():
            st.caption(f"Its best model so far was kept: right on {fmt.percent(status.get('best_val_acc'))} of the "
                       f"pictures kept aside to check it, in round {status.get('best_epoch', '?')} of the "
                       f"{status.get('epochs_run', '?')} it did before it was stopped.")
            st.page_link("app_pages/predict.py", label="Try it on new images", icon=":material/arrow_forward:",
                         query_params={"run": run_dir.name})
    else:
        st.error(status.get("error") or f"The run ended as {state} without saying why.")
        if status.get("error_kind") == PICTURES_CHANGED:
            st.page_link("app_pages/data.py", label="Check the dataset again (Data page, Your datasets)",
                         icon=":material/refresh:")
        log_tail = _log_tail(RunFolder(run_dir).worker_log_path)
        if log_tail:
            with st.expander("Technical details (the training process's log)"):
                st.code(log_tail, language=None)


def honesty_ui(run_dir: Path, status: dict) -> None:
    """How honest the kept model's probabilities are, before and after the temperature was fitted."""
    before, after = status.get("ece_before"), status.get("ece_after")
    if before is None or after is None:
        return
    with st.expander(f"How sure it is, and how often right: off by {fmt.percent(after)} on average "
                     f"(calibration)"):
        st.caption(f"When the model says it is 80% sure, it should be right 80% of the time. As trained it was off "
                   f"by {fmt.percent(before)} on average on the pictures kept aside; its probabilities are now "
                   f"divided by one number fitted on those pictures (temperature {status.get('temperature', 1):.2f}), "
                   f"and are off by {fmt.percent(after)} (expected calibration error, 15 bins; that figure is measured on "
                   f"pictures the number was not fitted on, the plot on all of them). Every answer it gives, here, on the Predict page "
                   f"and in the downloads, uses them.", help=explain("calibration"))
        bins = RunFolder(run_dir).read_json(RunFolder.RELIABILITY)
        if isinstance(bins, dict):
            st.plotly_chart(reliability_figure(bins), key=f"reliability_{run_dir.name}")


def target_text(run_dir: Path, status: dict) -> str:
    """The accuracy where the model will be used, beside validation's, and the domain classifier's last word."""
    target = RunFolder(run_dir).read_target()
    name = RunFolder(run_dir).load_config().extra.get("target_name") if RunFolder(run_dir).config_path.is_file() else None
    where = f"'{name}'" if name else "the pictures from where it will be used"
    labelled = len(target.labelled) if target else 0
    gap = status["best_val_acc"] - status["best_target_acc"]
    text = (f"On {where} ({labelled} labelled pictures) the kept model is right on "
            f"{fmt.percent(status['best_target_acc'])}, against {fmt.percent(status['best_val_acc'])} on the pictures "
            f"kept aside from the training set")
    text += f": {fmt.percent(gap)} lost to the change of domain." if gap > 0.005 else "."
    domain = [e["domain_acc"] for e in event_log(run_dir).events if e.get("type") == "epoch" and "domain_acc" in e]
    if domain:
        text += (f" The domain classifier told the two sets apart on {fmt.percent(domain[-1])} of pictures in the "
                 "last round (50% means it cannot tell them apart: the features are aligned).")
    return text


def practice_text(status: dict) -> str:
    """What meta-learning's practice did: accuracy on small tasks after adapting, at its start and end."""
    return (f"Before your pictures, it practised on {status.get('meta_episodes')} small tasks (meta-learning). "
            f"After adapting to a task it was right on {fmt.percent(status['meta_first_acc'])} of that task's other "
            f"pictures at the start of the practice and on {fmt.percent(status['meta_last_acc'])} at the end: "
            "the higher the second figure, the better the starting point it learned.")


def early_stop_text(run_dir: Path, status: dict) -> str:
    try:
        patience = RunFolder(run_dir).load_config().early_stop_patience
        rounds = f"{patience} round{'s' * (patience != 1)}"
    except (OSError, ValueError, TypeError):
        rounds = "several rounds"
    return (f"Stopped early (early stopping): the score had not improved for {rounds}, so more rounds were "
            "unlikely to help. The best model was kept.")


def ended_before_its_rounds(events: list[dict]) -> bool:
    """Whether the run's last part did fewer rounds than it planned. Checked here too, as the status of a
    run trained by an earlier version of the studio said "stopped early" also of a warm-up that went on to
    fine-tuning, and of a part that did all its rounds."""
    starts = [i for i, e in enumerate(events) if e.get("type") == "phase_start"]
    planned = events[starts[-1]].get("epochs") if starts else None
    if not isinstance(planned, int):
        return True  # nothing to check against: the status's word stands
    return sum(e.get("type") == "epoch" for e in events[starts[-1]:]) < planned


def curves_ui(run_dir: Path, events: list[dict]) -> None:
    if any(e.get("type") == "meta" for e in events):
        ways = next(e.get("ways") for e in events if e.get("type") == "meta")
        st.plotly_chart(plots.meta_figure(events, ways if isinstance(ways, int) else None),
                        key=f"meta_{run_dir.name}")
    if not any(e.get("type") in ("batch", "epoch") for e in events):
        # Words, not two empty charts: the page's first chart has the browser load its plotting library,
        # which shares a laptop's cores with the run's first seconds.
        st.caption("The loss and accuracy curves appear with the first training batch.")
        return
    loss, accuracy = st.columns(2)
    loss.plotly_chart(plots.loss_figure(events), key=f"loss_{run_dir.name}")
    accuracy.plotly_chart(plots.accuracy_figure(events), key=f"accuracy_{run_dir.name}")


def confusion_ui(run_dir: Path, events: list[dict], status: dict) -> None:
    epochs = [e for e in events if e.get("type") == "epoch"]
    if not epochs:
        return
    # A finished run's model is its best epoch, so that is the matrix worth reading.
    best = status.get("best_epoch") if status.get("state") == "succeeded" else None
    shown = next((e for e in epochs if e["epoch"] == best), epochs[-1])
    labels = _labels(run_dir, events, len(shown["confusion"]))
    which = "best epoch" if best == shown["epoch"] else "latest epoch"
    matrix, scores = st.columns(2)
    with matrix:
        normalized = st.toggle("Show shares of each true class", key=f"normalize_{run_dir.name}")
        # Clickable once the run has finished (its answers per picture exist then); a live view stays light.
        finished = status.get("state") == "succeeded"
        clicked = st.plotly_chart(plots.confusion_figure(shown["confusion"], labels, normalized),
                                  key=f"confusion_{run_dir.name}", on_select="rerun" if finished else "ignore",
                                  selection_mode="points")
        points = (clicked or {}).get("selection", {}).get("points", []) if finished else []
        cell = tuple(int(c) for c in points[0]["customdata"][:2]) \
            if points and len(points[0].get("customdata", [])) >= 2 else None
        # The chart keeps its selection across reruns: act on a new click only, so a choice made in
        # the pictures' list afterwards is not taken back by the old click.
        handled = f"cell_handled_{run_dir.name}"
        if cell != st.session_state.get(handled):
            st.session_state[handled] = cell
            if cell is not None:
                select_cell(run_dir, *cell)
        st.caption(f"Pictures kept aside to check the model, round {shown['epoch']} ({which}). Rows: the true "
                   "class; columns: what the model said (confusion matrix).", help=explain("confusion matrix"))
    with scores:
        st.markdown("**How often it is right, per class** (validation)")
        per_class = shown["per_class"]
        st.dataframe(
            [{"class": label, "found": r, "right": p, "F1": f, "pictures": n}
             for label, p, r, f, n in zip(labels, per_class["precision"], per_class["recall"],
                                          per_class["f1"], per_class["support"])],
            hide_index=True, key=f"per_class_{run_dir.name}",
            column_config={
                "found": st.column_config.NumberColumn(format="percent", help=f"Recall. {explain('recall')}"),
                "right": st.column_config.NumberColumn(format="percent", help=f"Precision. {explain('precision')}"),
                "F1": st.column_config.NumberColumn(format="percent", help=explain("F1"))})
    if status.get("state") == "succeeded":
        st.markdown("**The pictures behind the answers** (the kept model, on the pictures kept aside)")
        pictures_ui(run_dir, image_size_of(run_dir))
        feature_map_ui(run_dir, image_size_of(run_dir))


def image_size_of(run_dir: Path) -> int:
    try:
        return RunFolder(run_dir).load_config().image_size
    except (OSError, ValueError):
        return RunConfig.image_size


def _labels(run_dir: Path, events: list[dict], count: int) -> list[str]:
    dataset = next((e for e in events if e.get("type") == "dataset"), None)
    labels = dataset["classes"] if dataset else (RunFolder(run_dir).load_labels() or None)
    usable = isinstance(labels, list) and len(labels) == count and all(isinstance(n, str) for n in labels)
    return list(labels) if usable else [str(i) for i in range(count)]


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-LOG_TAIL_LINES:])
