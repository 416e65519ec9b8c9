"""The Train page's several sources at once: other networks' features beside the chosen one's
(feature extraction), and a second dataset trained at the same time (joint training)."""
from dataclasses import dataclass

import streamlit as st

from tlcore.data.datasets import list_datasets
from tlcore.models.backbones import BackboneSpec, list_backbones
from tlcore.runs import list_runs
from tlcore.runs.store.sources import SourceRun
from tlcore.training.strategies import StrategySpec
from ui import format as fmt
from ui.glossary import explain, label
from ui.resources import weights_table
from ui.state import ChosenDataset
from ui.start_from import source_words
from ui.people import current_person

RUN = "run:"  # an option naming a finished run, not a network of the registry


@dataclass(frozen=True)
class Networks:
    """What the run's features come from: one network or several ("a+b"), each member's run or ""."""

    backbone: str
    init_from: str | None
    member_runs: list[str]


def combine_ui(strategy: StrategySpec, spec: BackboneSpec, source: SourceRun | None) -> Networks:
    """Other networks whose features join the chosen one's, for strategies that keep networks fixed."""
    alone = Networks(spec.name, str(source.run_dir) if source else None, [])
    if strategy.trains_body:
        return alone
    available = [s for s in list_backbones() if weights_table()[s.name]["available"]]
    finished = {run.run_id: run for run in list_runs(person=current_person())
                if run.state == "succeeded" and run.config is not None
                and "+" not in run.config.backbone}
    options = [s.name for s in available] + [RUN + run_id for run_id in finished]

    def words(option: str) -> str:
        if option.startswith(RUN):
            return f"your run: {source_words(finished[option[len(RUN):]])}"
        return f"{fmt.backbone_words(option)} (ImageNet's weights)"

    chosen = st.multiselect(label("Add what other networks see", "combined features"), options, key="combine",
                            format_func=words, help=explain("combined features"))
    if not chosen:
        return alone
    networks = [spec.name] + [finished[o[len(RUN):]].config.backbone if o.startswith(RUN) else o for o in chosen]
    runs = [alone.init_from or ""] + [str(finished[o[len(RUN):]].run_dir) if o.startswith(RUN) else "" for o in chosen]
    st.caption(f"Each picture is described by {len(networks)} networks; one last layer learns from their "
               "descriptions side by side. Each network's descriptions are computed once and kept.")
    return Networks("+".join(networks), None, runs if any(runs) else [])


def joint_ui(strategy: StrategySpec, dataset: ChosenDataset) -> str | None:
    """A second labelled dataset trained at the same time, for strategies that adjust the network."""
    if not strategy.trains_body:
        return None
    others = {r.root or r.source: r for r in list_datasets(current_person()) if r.available()
              and (r.root or r.source) != dataset.manifest.root}
    choice = st.selectbox(label("Also learn another dataset at the same time", "joint training"), [None, *others],
                          key="joint_with", help=explain("joint training"),
                          format_func=lambda path: "No, only this dataset" if path is None else
                          f"{others[path].name} · {len(others[path].classes)} classes · "
                          f"{others[path].images()} pictures")
    return choice
