"""The Train page's "Start from": ImageNet's weights, or one of the person's finished runs."""
import streamlit as st

from tlcore.config import ConfigError
from tlcore.models.backbones import is_combined
from tlcore.runs import RunFolder, RunSummary, list_runs
from tlcore.runs.store.sources import SourceRun, chain_through, check_source
from ui import format as fmt
from ui.glossary import explain, label
from ui.people import current_person

IMAGENET = ""  # the choice that starts from the registry's pretrained weights


def source_words(run: RunSummary) -> str:
    """A finished run as a starting point: its name, data, classes and accuracy."""
    count = len(RunFolder(run.run_dir).load_labels())
    return (f"{fmt.run_title(run)} · {fmt.backbone_words(run.config.backbone)} · {count} classes · "
            f"right on {fmt.percent(run.status.get('best_val_acc'))}")


def start_from_ui() -> tuple[SourceRun | None, bool]:
    """The chosen starting run (None: ImageNet's weights), and whether it can be used."""
    finished = {run.run_id: run for run in list_runs(person=current_person())
                if run.state == "succeeded" and run.config is not None
                and not is_combined(run.config.backbone)}  # a run starts from one network
    choice = st.selectbox(
        label("Start from", "starting point"), [IMAGENET, *finished], key="start_from",
        format_func=lambda run_id: source_words(finished[run_id]) if run_id else
        "ImageNet: what the network learned from a million everyday photos (pretrained weights)",
        help=f"{explain('starting point')} A run started from another keeps that run's network and picture size.")
    if not choice:
        return None, True
    try:
        source = check_source(finished[choice].run_dir)
    except ConfigError as error:  # deleted or changed since the list was read
        st.error(str(error))
        return None, False
    st.caption(f"Builds on {fmt.chain_text(chain_through(source), last='')}: its network, with a new last layer "
               "for this dataset's classes.")
    return source, True
