"""The Train page's meta-learning sources: datasets of the library, or a finished run's data, to
draw the small practice tasks from; checked at once against the tasks' N classes and K pictures."""
from dataclasses import dataclass

import streamlit as st

from tlcore.config import ConfigError
from tlcore.data.datasets import list_datasets
from tlcore.runs import list_runs
from tlcore.training.meta_practice import source_names
from tlcore.training.meta_learning import check_pools
from tlcore.training.strategies import INPUT_WORDS, StrategySpec
from tlcore.runs import RunFolder
from ui import format as fmt
from ui.glossary import explain, label
from ui.people import current_person


@dataclass(frozen=True)
class PracticeSet:
    path: str
    name: str
    words: str  # how the list names it
    counts: dict[str, int]  # pictures per class, every split together


def practice_sets() -> dict[str, PracticeSet]:
    """The library's datasets, then the data of finished runs that is not in the library, by path."""
    found: dict[str, PracticeSet] = {}
    for record in list_datasets(current_person()):
        if record.available():
            path = record.root or record.source
            counts = {cls: sum(splits.values()) for cls, splits in record.counts.items()}
            words = f"{record.name} · {len(counts)} classes · {sum(counts.values())} pictures"
            found[path] = PracticeSet(path, record.name, words, counts)
    for run in list_runs(person=current_person()):
        if run.state != "succeeded" or run.config is None or run.config.data in found:
            continue
        try:
            manifest = RunFolder(run.run_dir).load_manifest()
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged or missing check: the run's data cannot be described, so it is not offered
        counts = {cls: sum(splits.values()) for cls, splits in manifest.counts().items()}
        # Named as the person knows it: the dataset and their run's name, never the run's folder id.
        name = f"{fmt.dataset_label(run)} (the pictures your run “{fmt.run_name(run)}” trained on)"
        words = f"{name} · {len(counts)} classes · {sum(counts.values())} pictures"
        found[run.config.data] = PracticeSet(run.config.data, name, words, counts)
    return found


def meta_sources_ui(strategy: StrategySpec, options: dict, training_root: str) -> tuple[list[str], bool]:
    """The chosen meta-learning sources' paths, and whether they can give the strategy's tasks.

    The training dataset is not offered: practising on it would practise on its validation pictures.
    """
    if "meta_sources" not in strategy.needs:
        return [], True
    sets = {path: found for path, found in practice_sets().items() if path != training_root}
    chosen = st.multiselect(label("Pictures to practise on", "meta-learning sources"), list(sets),
                            format_func=lambda path: sets[path].words, key="meta_sources",
                            help=explain("meta-learning"))
    if not chosen:
        st.warning(f"{strategy.title} needs {INPUT_WORDS['meta_sources']}. Add a dataset on the Data page; its "
                   "classes should differ from the ones you train on, as they would in a real few-shot task.")
        return [], False
    try:
        check_pools({name: sets[path].counts for path, name in zip(chosen, source_names(chosen))},
                    strategy.value(options, "ways"), strategy.value(options, "shots"))
    except ConfigError as error:
        st.warning(str(error))
        return chosen, False
    return chosen, True
