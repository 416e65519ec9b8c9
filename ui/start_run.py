"""Starting a run from a page (the Train page's Start, the home page's one-click sample): the config made
from the person's choices on the dataset as they checked and corrected it, queued, and its live view opened."""
import streamlit as st

from tlcore.config import RunConfig
from tlcore.errors import InputError
from ui.people import current_person
from ui.resources import get_runner, weights_table
from ui.state import ChosenDataset, ChosenTarget, select_run


def start_run(dataset: ChosenDataset, target: ChosenTarget | None = None, **choices) -> None:
    """Queue a run on the dataset and open its live view on the Runs page.

    Args:
        target: pictures from where the model will be used, when the person chose some.
        choices: RunConfig fields (network, strategy, settings); those left out are the studio's defaults.

    Returns only when the studio or the class's rules refuse the settings, after saying why.
    """
    # Imported here: the person's corrections bring torch, which the home page draws without.
    from ui.label_check import corrected_manifest, corrections_of

    extra = {"dataset": dataset.label, "dataset_id": dataset.dataset_id}
    if target is not None:
        extra["target_name"] = target.label
    try:
        manifest = corrected_manifest(dataset)  # the person's relabellings and pictures left out
        corrections = len(corrections_of(dataset).current())
        if corrections:
            extra["label_corrections"] = corrections
        config = RunConfig(data=dataset.manifest.root, extra=extra, target=target.source if target else None,
                           **choices)
        run_id = get_runner().submit(config, manifest, current_person())
    except InputError as error:  # a setting refused, or a rule of the class (which one, and what to do)
        st.error(str(error))
        return
    select_run(run_id)
    st.switch_page("app_pages/runs.py", query_params={"run": run_id})


def default_choices() -> dict:
    """What the Train page starts with when the person changes nothing: the studio's network and strategy,
    with the strategy's own rounds."""
    from tlcore.training.strategies import get_strategy  # the registry brings torch: only once asked

    return {"backbone": RunConfig.backbone, "strategy": RunConfig.strategy,
            "epochs": get_strategy(RunConfig.strategy).default_epochs}


def start_with_defaults(dataset: ChosenDataset) -> None:
    """Train the dataset at once with the Train page's defaults and open the run's live view; says why not
    when the default network's pretrained weights cannot be had here."""
    weights = weights_table()[RunConfig.backbone]
    if not weights["available"]:
        st.warning(f"The studio's network cannot start: its pretrained weights are not available here "
                   f"({weights['detail']}). Open the sample on the Train page to choose another network.")
        return
    start_run(dataset, **default_choices())
