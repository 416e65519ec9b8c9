"""The Train page in words a 14-year-old can follow: plain words first, the technical term beside them in
brackets or in a help tooltip, never on its own; runs named as the person knows them, never by folder id."""
import re

from google.protobuf.json_format import MessageToDict

from apptest_support import home, open_app  # noqa: F401 (fixtures)
from imagegen import make_image_folder
from tlcore import paths, runs
from tlcore.config import RunConfig
from tlcore.data.imagecache import ImageCache
from tlcore.data.scan import scan
from tlcore.runs import RunFolder
from tlcore.training.strategies import list_strategies
from ui.glossary import GLOSSARY, bare_jargon, label

RUN_ID = re.compile(r"\d{8}-\d{6}-")  # a run folder's name: 20261204-153012-mobilenet_v2-...


def shown_strings(at) -> set[str]:
    """Every string the page sends to the browser: labels, help, captions, options, table settings."""
    found: set[str] = set()

    def strings(value):
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key not in ("id", "formId", "key"):  # the widgets' own names, never shown
                    strings(item)
        elif isinstance(value, list):
            for item in value:
                strings(item)

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "DESCRIPTOR"):
            strings(MessageToDict(proto))
        for child in (getattr(node, "children", None) or {}).values():
            walk(child)

    walk(at._tree[0])
    return found


def test_the_registrys_words_and_the_glossary_give_plain_words_before_each_term():
    for strategy in list_strategies():
        words = [strategy.title, strategy.plain, strategy.summary, strategy.when]
        words += [text for setting in strategy.settings for text in (label(setting.title, setting.term), setting.help)]
        for text in words:
            assert bare_jargon(text) == [], f"{strategy.name}: {text}"
    for term, meaning in GLOSSARY.items():
        assert bare_jargon(meaning) == [], term
    assert "MAML" not in " ".join(s.summary for s in list_strategies())  # a term that explains nothing to a newcomer


def test_the_train_page_shows_no_bare_jargon_and_no_run_ids(home):
    # A finished run whose pictures are not in the library: the Train page offers them to practise on.
    shapes = make_image_folder(home / "shapes", {"circles": 7, "squares": 7, "triangles": 7, "stars": 7, "moons": 7})
    manifest = scan(shapes, cache=ImageCache(paths.cache_dir()), image_size=32)
    finished = runs.create_run(RunConfig(data=str(shapes), image_size=32, name="My shapes"), paths.runs_dir(), manifest)
    RunFolder(finished).save_trained_dataset(manifest)
    RunFolder(finished).update_status(state="succeeded")

    at = open_app()
    next(b for b in at.button if b.label == "Try the sample dataset").click().run()
    assert at.title[0].value == "Train"
    shown = set()
    for strategy in list_strategies():
        at.radio(key="strategy").set_value(strategy.name).run()
        assert not at.exception
        shown |= shown_strings(at)
    bare = {(term, text[:100]) for text in shown for term in bare_jargon(text)}
    assert not bare
    assert not [text for text in shown if RUN_ID.search(text)]
    at.radio(key="strategy").set_value("meta_learning").run()
    sources = at.multiselect(key="meta_sources")
    assert any(option.startswith("shapes (the pictures your run “My shapes” trained on) · 5 classes")
               for option in sources.options)
    assert any("work per picture" in text and "billion" in text for text in shown)  # not "GFLOPs" in the cells
