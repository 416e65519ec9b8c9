"""Train: choose a pretrained network and a way to train it on the chosen dataset, then start."""
import streamlit as st

from tlcore.config import BALANCE_CHOICES, MAX_AUGMENT_VIEWS, RunConfig
from tlcore.models.backbones import BackboneSpec, get_spec, list_backbones
from tlcore.models.heads import get_head, list_heads
from tlcore.report.estimate import Throughput, estimate_seconds, wait_to_start
from tlcore.runs.store.sources import SourceRun
from tlcore.training.strategies import INPUT_WORDS, StrategySpec, get_strategy, list_strategies
from ui import format as fmt
from ui.auto_choice import auto_choice_ui
from ui.glossary import explain, label
from ui.label_check import corrected_manifest, trained_sizes
from ui.resources import device_choices, device_info, gpu_count, known_throughput, measure, weights_table
from ui.meta_sources import meta_sources_ui
from ui.people import current_person
from ui.several_sources import Networks, combine_ui, joint_ui
from ui.start_from import start_from_ui
from ui.start_run import start_run
from ui.strategy_settings import strategy_settings_ui
from ui.state import ChosenDataset, ChosenTarget, chosen_dataset, chosen_target
from ui.weights_words import WEIGHTS_WORDS, first_use_words

IMAGE_SIZES = [32, 64, 96, 128, 160, 192, 224, 256, 288, 320]
BATCH_SIZES = [8, 16, 32, 64, 128, 256]
BALANCE_WORDS = {"auto": "when one class has more than twice the pictures of another",
                 "on": "always", "off": "never"}


def dataset_ui(dataset: ChosenDataset) -> None:
    trained = corrected_manifest(dataset)  # the pictures the person left out are not trained on, nor counted
    left_out = len(dataset.manifest.samples) - len(trained.samples)
    st.markdown(f"Training on **{dataset.label}**: {len(trained.classes)} classes, "
                f"{len(trained.split('train'))} pictures to learn from and {len(trained.split('val'))} to check on"
                + (f" ({left_out} left out by your corrections)." if left_out else "."))
    st.page_link("app_pages/data.py", label="Use another dataset", icon=":material/folder_open:")


def backbone_ui(source: SourceRun | None) -> BackboneSpec:
    if source is not None:  # the network comes with the run it starts from
        spec = get_spec(source.config.backbone)
        st.selectbox(label("Network that already knows how to see", "backbone"), [spec.title], disabled=True,
                     key="backbone_of_the_source",
                     help="A run started from another keeps that run's network.")
        return spec
    specs = list_backbones()
    weights = weights_table()
    names = [spec.name for spec in specs]

    def describe(name: str) -> str:
        spec = get_spec(name)
        return (f"{spec.title} · size {spec.params_m:.1f} million numbers · right on {spec.imagenet_top1:.0f}% "
                f"of ImageNet's test{first_use_words(spec, weights[name])}")

    name = st.selectbox(label("Network that already knows how to see", "backbone"), names, format_func=describe,
                        key="backbone",
                        index=names.index(RunConfig.backbone) if RunConfig.backbone in names else 0,
                        help=f"{explain('backbone')} Bigger networks are usually more accurate and always slower.")
    return get_spec(name)


def compare_ui(strategy: StrategySpec, settings: dict, dataset: ChosenDataset) -> None:
    """Every network side by side, with how long this dataset would take on each here (once measured)."""
    weights = weights_table()
    rows, unmeasured, sizes = [], [], trained_sizes(dataset)
    for spec in list_backbones():
        size = spec.fixed_image_size or settings["image_size"]
        if size < spec.min_image_size:
            time_here = f"needs images of {spec.min_image_size} px or more"
        elif (rate := known_rate(spec, strategy, settings)) is None:
            time_here = "not measured yet"
            unmeasured.append(spec)
        else:
            time_here = fmt.duration(expected_seconds(rate, strategy, settings, sizes))
        rows.append({"network": spec.title, "size": spec.params_m,
                     "right on ImageNet": spec.imagenet_top1, "work per picture": spec.gflops,
                     f"time for this run on {device_label(settings)}": time_here,
                     "ready to use": WEIGHTS_WORDS[weights[spec.name]["source"]],
                     "where from": weights[spec.name]["detail"]})
    st.dataframe(rows, hide_index=True, key="compare_networks", column_config={
        "size": st.column_config.NumberColumn(format="%.1f M", help=f"Millions of parameters. {explain('parameters')}"),
        "right on ImageNet": st.column_config.NumberColumn(format="%.1f %%", help=explain("ImageNet top-1")),
        "work per picture": st.column_config.NumberColumn(format="%.2f billion", help=f"At 224 px. {explain('GFLOPs')}"),
        "ready to use": st.column_config.TextColumn(help="Whether its pretrained weights can be had here.")})
    if unmeasured and st.button(f"Time the {len(unmeasured)} networks not measured yet (a few seconds each)",
                                icon=":material/timer:", key="measure_all"):
        bar = st.progress(0.0)
        for done, spec in enumerate(unmeasured):
            bar.progress(done / len(unmeasured), text=f"Timing {spec.title} on a few batches…")
            try:
                measure(spec.name, settings["image_size"], settings["device"], trains_body(strategy))
            except (ValueError, RuntimeError, MemoryError) as error:
                st.error(f"Timing {spec.title} failed: {error}")
                return
        st.rerun()
    st.caption("Times come from a short measurement of each network on this device (kept for next time), "
               "for the strategy, epochs and image size chosen below; features cached already make them shorter.")


def strategy_ui() -> StrategySpec:
    strategies = list_strategies()
    names = [s.name for s in strategies]
    name = st.radio("How to train", names, index=names.index(RunConfig.strategy),
                    format_func=lambda n: label(get_strategy(n).plain, term_words(get_strategy(n).title)),
                    captions=[s.summary for s in strategies], key="strategy")
    spec = get_strategy(name)
    st.caption(f"**When it helps:** {spec.when}")
    return spec


def term_words(title: str) -> str:
    """A strategy's title as the term beside its plain words: 'Meta-learning (Reptile)' -> 'meta-learning,
    Reptile' (no brackets inside the brackets; names keep their capitals)."""
    return (title[:1].lower() + title[1:]).replace(" (", ", ").replace(")", "")


def target_ui(strategy: StrategySpec, target: ChosenTarget | None) -> bool:
    """The pictures from where the model will be used; False when the strategy needs them and there are none."""
    if target is None:
        if "target" in strategy.needs:
            st.warning(f"{strategy.title} needs {INPUT_WORDS['target']}. Choose them on the Data page, or use the "
                       "built-in domain-shift pair there.")
            st.page_link("app_pages/data.py", label="Choose the pictures where it will be used",
                         icon=":material/folder_open:")
            return False
        return True
    labelled = (f"{target.labelled} of them labelled, so the run reports its accuracy there"
                if target.labelled else "unlabelled, so no accuracy can be measured there")
    use = "it trains on them without their labels" if "target" in strategy.streams else \
        "this strategy does not train on them; they only measure"
    st.markdown(f"Pictures where it will be used: **{target.label}**, {target.pictures} pictures, {labelled}; {use}.")
    return True


def weights_ok_ui(spec: BackboneSpec, strategy: StrategySpec, source: SourceRun | None) -> bool:
    """Whether the run can start as chosen; says why not when the weights are missing."""
    if source is not None:
        if not strategy.pretrained:
            st.warning(f"{strategy.title} starts from random numbers, so it cannot start from a run: choose "
                       "another way to train, or start from ImageNet.")
            return False
        return True  # the weights come from the run
    status = weights_table()[spec.name]
    if not strategy.pretrained or status["available"]:
        return True
    usable = [s.title for s in list_backbones() if weights_table()[s.name]["available"]]
    st.warning(f"{spec.title}'s pretrained weights are not available here ({status['detail']}). "
               f"Choose one that has them ({', '.join(usable) or 'none right now'}), or train it "
               "'From scratch'.")
    return False


def basics_ui(spec: BackboneSpec, strategy: StrategySpec, source: SourceRun | None) -> dict:
    epochs_label = label("Rounds of training after the warm-up" if strategy.warm_up else "Rounds of training",
                         "epochs")
    epochs = st.slider(epochs_label, 1, 100, strategy.default_epochs, key=f"epochs_{strategy.name}",
                       help=explain("epoch"))
    sizes = [spec.fixed_image_size] if spec.fixed_image_size else \
        [s for s in IMAGE_SIZES if s >= spec.min_image_size]
    preferred = source.config.image_size if source else RunConfig.image_size  # a source run's network saw its own size
    image_size = st.select_slider("Picture size (pixels)", sizes, value=preferred if preferred in sizes else sizes[-1],
                                  disabled=len(sizes) == 1,
                                  help=f"Smaller is faster. {spec.title} was trained at "
                                       f"{source.config.image_size if source else spec.default_image_size} px.")
    return {"epochs": epochs, "image_size": image_size}


def advanced_ui(spec: BackboneSpec, strategy: StrategySpec, dataset: ChosenDataset) -> dict:
    with st.expander("More settings"):
        st.caption("The studio's choices work well; change these to experiment.")
        left, right = st.columns(2)
        lr = left.number_input(label("Size of each learning step (empty: the studio's choice)", "learning rate"),
                               min_value=1e-6, max_value=1.0, value=None, format="%.5f", step=1e-4,
                               help=explain("learning rate"))
        batch_size = left.select_slider(label("Pictures per learning step", "batch size"), BATCH_SIZES, value=RunConfig.batch_size,
                                        help=explain("batch size"))
        augment = left.checkbox(label("Vary the training pictures a little: crops and flips", "augmentation"),
                                value=RunConfig.augment, disabled=not trains_body(strategy),
                                help=f"{explain('augmentation')} Not used when the network describes each "
                                     "picture only once (feature extraction).")
        patience = left.number_input(label("Stop after this many rounds without a better score (0: never)",
                                           "early stopping"), min_value=0, max_value=100,
                                     value=RunConfig.early_stop_patience, help=explain("early stopping"))
        copies = left.number_input(label("Varied copies of each picture to learn from", "augmented features"),
                                   min_value=0, max_value=MAX_AUGMENT_VIEWS, value=RunConfig.augment_views,
                                   key="augment_views",
                                   disabled=not uses_features(strategy),
                                   help=f"{explain('augmented features')} For the rounds on the network's "
                                        "descriptions (feature extraction, and the warm-up of fine-tuning).")
        heads = [h.name for h in list_heads()]
        head = left.selectbox(label("New last layer", "head"), heads, index=heads.index(RunConfig.head),
                              format_func=lambda name: get_head(name).title,
                              help=f"{explain('head')} " + " ".join(f"{h.title}: {h.summary}" for h in list_heads()))
        head_epochs = right.number_input(label("Warm-up rounds for the new last layer", "head epochs"),
                                         min_value=0, max_value=200, value=RunConfig.head_epochs,
                                         disabled=not strategy.warm_up)
        unfreeze = right.number_input(label("Blocks that adjust, from the top (0: all)", "stages to unfreeze"),
                                      min_value=0, max_value=20, value=RunConfig.unfreeze_stages,
                                      disabled=not (strategy.trains_body and strategy.pretrained),
                                      help=explain("stages"))
        val_fraction = right.slider(label("Share of pictures kept aside to check the model", "validation"),
                                    0.1, 0.5, RunConfig.val_fraction, 0.05, disabled=dataset.manifest.split_given,
                                    help=f"{explain('validation')} Ignored when the dataset has its own val/ folder.")
        tta = right.checkbox(label("Check each picture with its mirror image too", "test-time augmentation"),
                             value=RunConfig.tta, key="tta", help=explain("test-time augmentation"))
        balance = right.selectbox(label("Draw every class equally often", "class balancing"), BALANCE_CHOICES,
                                  index=BALANCE_CHOICES.index(RunConfig.balance), format_func=BALANCE_WORDS.get, key="balance", help=explain("class balancing"))
        seed = right.number_input("Seed (same seed, same result)", min_value=0, max_value=2**31 - 1,
                                  value=RunConfig.seed)
        device = right.selectbox("Where it trains (device)", device_choices(),
                                 help=f"auto uses {device_info()['label']} here.")
        processes = all_gpus_ui(right, strategy, device)
        name = st.text_input("Name this run (optional)", max_chars=80)
    return {"lr": lr, "batch_size": batch_size, "augment": augment, "early_stop_patience": int(patience),
            "head": head, "head_epochs": int(head_epochs), "unfreeze_stages": int(unfreeze),
            "val_fraction": val_fraction, "seed": int(seed), "device": device, "name": name.strip(),
            "augment_views": int(copies) if uses_features(strategy) else 0, "tta": tta, "balance": balance,
            "processes": processes}


def all_gpus_ui(column, strategy: StrategySpec, device: str) -> int:
    """On a machine with several GPUs, the choice to train on all of them; returns the processes asked for."""
    gpus = gpu_count()
    if gpus < 2 or device not in ("auto", "cuda"):
        return 1
    shareable = strategy.splits_across_processes
    everywhere = column.checkbox(
        label(f"Use all {gpus} GPUs on this machine", "data-parallel"), key="all_gpus", disabled=not shareable,
        help=f"{explain('data-parallel')} For the strategies that adjust the network: the others compute "
             "the network's descriptions once, with nothing to share.")
    return gpus if everywhere and shareable else 1


def trains_body(strategy: StrategySpec) -> bool:
    return strategy.trains_body


def uses_features(strategy: StrategySpec) -> bool:
    """Whether some of its rounds learn from the network's cached descriptions (feature extraction, warm-ups)."""
    return not strategy.trains_body or strategy.warm_up


def device_label(settings: dict) -> str:
    return device_info()["label"] if settings["device"] == "auto" else settings["device"].upper()


def known_rate(spec: BackboneSpec, strategy: StrategySpec, settings: dict) -> Throughput | None:
    """This network's measured speed here for these settings; None before it was measured."""
    return known_throughput(spec.name, settings["image_size"], settings["device"], trains_body(strategy))


def expected_seconds(rate: Throughput, strategy: StrategySpec, settings: dict, sizes: tuple[int, int]) -> float:
    """The run's time here at this measured speed; sizes: trained_sizes(), worked out once per page."""
    target = chosen_target()
    train_images, val_images = sizes
    return estimate_seconds(rate, strategy.name, epochs=settings["epochs"], train_images=train_images,
                            val_images=val_images, head_epochs=settings["head_epochs"],
                            target_images=target.pictures if target else 0, options=settings["options"],
                            joint=bool(settings.get("joint_with")), augment_views=settings["augment_views"],
                            tta=settings["tta"], batch_size=settings["batch_size"])


def estimate_ui(spec: BackboneSpec, strategy: StrategySpec, settings: dict, dataset: ChosenDataset) -> None:
    rate = known_rate(spec, strategy, settings)
    if rate is None:
        if not st.button("Estimate the time on this device", icon=":material/timer:"):
            return
        try:
            with st.spinner(f"Timing {spec.title} on a few batches…"):
                measure(spec.name, settings["image_size"], settings["device"], trains_body(strategy))
        except (ValueError, RuntimeError, MemoryError) as error:
            st.error(f"The measurement failed: {error}")
            return
        st.rerun()  # the comparison above shows the new figure too, and the button goes
    seconds = expected_seconds(rate, strategy, settings, trained_sizes(dataset))
    trained = f", {rate.train_images_per_s:.0f} training" if rate.train_images_per_s else ""
    st.info(f"About **{fmt.duration(seconds)}** on {rate.device_label} (measured {rate.eval_images_per_s:.0f} "
            f"images/s forward{trained} at {rate.image_size} px; less if features are cached already, "
            f"more while the computer is busy with other work).{queue_words(settings, dataset)}")


def queue_words(settings: dict, dataset: ChosenDataset) -> str:
    """When runs are training or waiting on the same device: that this one starts after them, and when."""
    ahead, starts_in = wait_to_start(RunConfig(data=dataset.manifest.root, device=settings["device"],
                                               processes=settings["processes"]), current_person())
    if not ahead:
        return ""
    when = f", in about {fmt.duration(starts_in)}" if starts_in is not None else ""
    runs = "run" if ahead == 1 else f"{ahead} runs"
    return f" It starts after the {runs} ahead of it{when}: runs take the device one at a time."


def start_ui(dataset: ChosenDataset, networks: Networks, strategy: StrategySpec, settings: dict,
             target: ChosenTarget | None, can_start: bool) -> None:
    if st.button("Start training", type="primary", icon=":material/play_arrow:", disabled=not can_start):
        start_run(dataset, target, backbone=networks.backbone, strategy=strategy.name, init_from=networks.init_from,
                  member_runs=networks.member_runs, **settings)


def settings_and_start_ui(chosen: ChosenDataset) -> None:
    """The person's own choices, from the network to the Start button."""
    start, start_ok = start_from_ui()
    backbone = backbone_ui(start)
    comparison = st.expander("Compare the networks")  # filled once the settings below are known
    plan = strategy_ui()
    target_chosen = chosen_target()
    target_ok = target_ui(plan, target_chosen)
    weights_ok = weights_ok_ui(backbone, plan, start)
    networks = combine_ui(plan, backbone, start)
    options = strategy_settings_ui(plan)
    meta_sources, practice_ok = meta_sources_ui(plan, options, chosen.manifest.root)
    choices = basics_ui(get_spec(networks.backbone), plan, start) | {
        "options": options, "meta_sources": meta_sources, "joint_with": joint_ui(plan, chosen)} | \
        advanced_ui(backbone, plan, chosen)
    estimate_ui(get_spec(networks.backbone), plan, choices, chosen)  # several networks are timed together
    with comparison:
        compare_ui(plan, choices, chosen)
    start_ui(chosen, networks, plan, choices, target_chosen,
             start_ok and weights_ok and target_ok and practice_ok)


st.title("Train")
chosen = chosen_dataset()
if chosen is None:
    st.info("First choose the images to train on.")
    st.page_link("app_pages/data.py", label="Go to Data", icon=":material/folder_open:")
else:
    dataset_ui(chosen)
    if not auto_choice_ui(chosen):
        settings_and_start_ui(chosen)
