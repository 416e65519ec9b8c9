"""A class server's pages (AppTest): the join page before sign-in, a join link, what each person sees and
may do. The same boundary in a real browser, with three people at once: tests/browser/test_class.py."""
import pytest
from streamlit.testing.v1 import AppTest

from apptest_support import APP, home, offline_weights, texts  # noqa: F401 (fixtures)
from tlcore import paths
from tlcore.config import RunConfig
from tlcore.people import roster
from tlcore.people.class_rules import ClassRules, save_rules
from tlcore.people.person import STUDENT, TEACHER, Person
from tlcore.runs import RunFolder
from tlcore.runs.store.creation import make_run_folder

ALICE, BOB = Person("alice", STUDENT, "Year 9"), Person("bob", STUDENT, "Year 9")


@pytest.fixture
def year9(home, monkeypatch):
    """A class server for Year 9 (alice and bob), each with a finished run of their own."""
    monkeypatch.setenv("TLSTUDIO_CLASS", "Year 9")
    links = roster.create_class("Year 9", ["alice", "bob"])
    for person in (ALICE, BOB):
        run_dir = make_run_folder(RunConfig(data="/data/shapes", name=f"{person.name}'s run"), paths.runs_dir(),
                                  owner=person)
        RunFolder(run_dir).update_status(state="succeeded", best_val_acc=0.75)
        links[f"{person.name}_run"] = run_dir.name
    return links


def signed_in(link: str, page: str | None = None, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["join"] = link.split("=", 1)[1]
    for name, value in params.items():
        at.query_params[name] = value
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception
    return at


def everything(at: AppTest) -> str:
    return "\n".join(texts(kind) for kind in (at.title, at.subheader, at.markdown, at.caption, at.info, at.error,
                                              at.warning, at.sidebar.markdown))


def test_nothing_of_the_class_shows_before_sign_in_and_a_wrong_link_gets_the_join_page(year9):
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert [t.value for t in at.subheader] == ["Class Year 9"]
    assert "join link" in everything(at) and "alice's run" not in everything(at)
    with pytest.raises(ValueError, match=r"Known pages: \['.*join.py'\]"):  # no other page is there to open
        at.switch_page("app_pages/runs.py")

    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["join"] = "not-a-token"
    at.run()
    assert "This join link is not (or no longer) one of this class's" in texts(at.error)
    assert "join" not in at.query_params


def test_a_join_link_signs_in_leaves_the_address_and_shows_only_ones_own_runs(year9):
    at = signed_in(year9["students"]["alice"], "app_pages/runs.py")
    assert "join" not in at.query_params  # the token is never left in the address bar
    assert "**alice** · student · class Year 9" in texts(at.sidebar.markdown)
    seen = everything(at) + str(at.get("arrow_data_frame"))
    assert "alice's run" in seen and "bob's run" not in seen

    # Bob's run by its address: as if it did not exist.
    at = signed_in(year9["students"]["alice"], run=year9["bob_run"])
    at.switch_page("app_pages/runs.py").run()
    assert f"There is no run '{year9['bob_run']}'" in texts(at.warning)
    assert "bob's run" not in everything(at)


def test_the_teacher_sees_the_class_page_with_everyones_runs(year9):
    student = signed_in(year9["students"]["bob"])
    with pytest.raises(ValueError, match="Could not find a navigation page"):  # not in a student's navigation
        student.switch_page("app_pages/teacher.py")

    at = signed_in(year9["teacher"], "app_pages/teacher.py")
    assert at.title[0].value == "Class Year 9"
    table = next(frame.value for frame in at.dataframe if "student" in frame.value.columns)
    assert sorted(table["student"]) == ["alice", "bob"]
    assert "alice, bob" in texts(at.markdown)


def test_a_students_data_page_has_no_server_folders_and_the_teachers_has(year9, monkeypatch):
    student = signed_in(year9["students"]["alice"], "app_pages/data.py")
    assert not any(box.key == "server_path_text" for box in student.text_input)
    teacher = signed_in(year9["teacher"], "app_pages/data.py")
    assert any(box.key == "server_path_text" for box in teacher.text_input)


@pytest.mark.slow
def test_a_lessons_rule_refuses_a_students_run_in_words(year9, offline_weights):
    save_rules("Year 9", ClassRules(max_epochs=3), Person("teacher", TEACHER, "Year 9"))
    at = signed_in(year9["students"]["alice"])
    next(b for b in at.button if b.label == "Try the sample dataset").click().run()
    assert at.title[0].value == "Train"
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception
    assert any("is more than this lesson allows (3); choose fewer" in e.value for e in at.error)


def test_another_link_never_switches_a_signed_in_tab_and_signing_out_brings_back_the_join_page(year9):
    at = signed_in(year9["students"]["alice"])
    at.query_params["join"] = year9["students"]["bob"].split("=", 1)[1]  # a link a classmate sent
    at.run()
    assert "**alice** · student · class Year 9" in texts(at.sidebar.markdown) and "join" not in at.query_params
    assert "sign out first" in texts(at.toast)
    at.button(key="sign_out").click().run()
    assert not at.exception
    assert [t.value for t in at.subheader] == ["Class Year 9"] and "alice" not in texts(at.sidebar.markdown)
    at.query_params["join"] = year9["students"]["bob"].split("=", 1)[1]
    at.run()
    assert "**bob** · student · class Year 9" in texts(at.sidebar.markdown)


def test_another_students_dataset_or_pictures_by_address_are_as_if_they_did_not_exist(year9, tmp_path):
    from imagegen import make_image_folder
    from tlcore.data import datasets
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan

    pets = scan(make_image_folder(tmp_path / "pets", {"zebras": 3, "yaks": 3}), cache=ImageCache(paths.cache_dir()))
    bobs, _ = datasets.add_dataset(pets, "bob's pets", "folder", pets.root, owner=BOB)
    at = signed_in(year9["students"]["alice"], "app_pages/data.py", dataset=bobs.id)
    assert "bob's pets" not in everything(at) and "zebras" not in everything(at)

    from tlcore.data.samples import install_sample
    sample = install_sample()
    alices, _ = datasets.add_dataset(scan(sample, cache=ImageCache(paths.cache_dir())), "sample", "sample", sample,
                                     studio_copy=True, owner=ALICE)
    for target in (bobs.id, str(paths.data_dir()), pets.root):
        at = signed_in(year9["students"]["alice"], "app_pages/data.py", dataset=alices.id, target=target)
        assert "bob's pets" not in everything(at) and "zebras" not in everything(at)
        assert "Where the model will be used" not in texts(at.success)
        assert "target" not in at.query_params  # a target she may not use is dropped from the address
