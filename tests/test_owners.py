"""Every store action on a run as its owner, as another student and as the teacher (class mode)."""
import json
from pathlib import Path

import pytest

from tlcore.config import RunConfig
from tlcore.people.person import LOCAL, STUDENT, TEACHER, NotVisible, Person
from tlcore.runs import RunFolder, list_runs
from tlcore.runs.store.creation import make_run_folder
from tlcore.runs.store.notes import delete_run, load_notes, rename_run, set_note, star_run
from tlcore.runs.store.owners import NoSuchRun, NotYours, open_run, run_owner, share_run
from tlcore.runs.supervision.runner import Runner

ALICE, BOB = Person("alice", STUDENT, "Year 9"), Person("bob", STUDENT, "Year 9")
TEACHER_9 = Person("teacher", TEACHER, "Year 9")
OTHER_ALICE = Person("alice", STUDENT, "Year 10")  # the same name in another class is someone else


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "studio"))
    return tmp_path / "studio" / "runs"


def finished(runs_dir, owner, state="succeeded"):
    run_dir = make_run_folder(RunConfig(data="/data/shapes"), runs_dir, owner=owner)
    RunFolder(run_dir).update_status(state=state)
    return run_dir


def folder_bytes(run_dir):
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir())}


def test_a_student_lists_their_own_runs_and_shared_ones_the_teacher_lists_all(runs_dir):
    alices, bobs, teachers = finished(runs_dir, ALICE), finished(runs_dir, BOB), finished(runs_dir, TEACHER_9)
    def seen(person):
        return {r.run_dir for r in list_runs(runs_dir, person=person)}

    assert seen(ALICE) == {alices} and seen(BOB) == {bobs} and seen(OTHER_ALICE) == set()
    assert seen(TEACHER_9) == seen(LOCAL) == {alices, bobs, teachers}
    share_run(teachers, TEACHER_9)
    assert seen(ALICE) == {alices, teachers}
    assert {r.owner for r in list_runs(runs_dir)} == {"Year 9/alice", "Year 9/bob", "Year 9/teacher"}


@pytest.mark.parametrize("action", [
    lambda run_dir, person: rename_run(run_dir, "hacked by B", person=person),
    lambda run_dir, person: set_note(run_dir, "hacked", person=person),
    lambda run_dir, person: star_run(run_dir, person=person),
    lambda run_dir, person: delete_run(run_dir, person=person),
    lambda run_dir, person: Runner(run_dir.parent, warm_worker=False).cancel(run_dir.name, person),
], ids=["rename", "note", "star", "delete", "cancel"])
def test_another_student_can_change_nothing_of_a_run_the_owner_and_teacher_can(runs_dir, action):
    run_dir = finished(runs_dir, ALICE)
    before = folder_bytes(run_dir)
    with pytest.raises(NoSuchRun, match="There is no run"):  # not even that it exists
        action(run_dir, BOB)
    assert folder_bytes(run_dir) == before
    share_run(run_dir, TEACHER_9)
    shared = folder_bytes(run_dir)
    with pytest.raises(NotYours, match="only the person who made it or the teacher"):
        action(run_dir, BOB)
    assert folder_bytes(run_dir) == shared
    action(run_dir, ALICE)
    action(finished(runs_dir, ALICE), TEACHER_9)


def test_a_run_is_opened_by_id_only_for_whom_may_see_it(runs_dir):
    run_dir = finished(runs_dir, ALICE)
    assert open_run(run_dir.name, ALICE, runs_dir).path == run_dir
    assert open_run(run_dir.name, TEACHER_9, runs_dir).path == run_dir
    for person, run_id in [(BOB, run_dir.name), (OTHER_ALICE, run_dir.name), (ALICE, "../runs"), (ALICE, ""),
                           (ALICE, "no-such-run")]:
        with pytest.raises(NoSuchRun, match="There is no run .* that you can open"):
            open_run(run_id, person, runs_dir)


def test_only_the_teacher_shares_and_a_shared_run_stays_its_owners(runs_dir):
    run_dir = finished(runs_dir, ALICE)
    with pytest.raises(NotYours, match="Only the teacher"):
        share_run(run_dir, ALICE)
    share_run(run_dir, TEACHER_9)
    assert run_owner(run_dir) == ("Year 9/alice", True)
    rename_run(run_dir, "Mine still", person=ALICE)
    assert load_notes(run_dir).name == "Mine still"


def test_single_user_mode_is_unchanged_runs_without_an_owner_file_are_the_local_persons(runs_dir):
    run_dir = finished(runs_dir, LOCAL)
    assert json.loads((run_dir / RunFolder.OWNER).read_text()) == {"owner": "local", "shared": False}
    (run_dir / RunFolder.OWNER).unlink()  # a run from before owners
    assert run_owner(run_dir) == ("local", False)
    rename_run(run_dir, "Old run")
    assert [r.run_dir for r in list_runs(runs_dir)] == [run_dir]
    assert [r.run_dir for r in list_runs(runs_dir, person=ALICE)] == []  # in class mode: the teacher's
    assert delete_run(run_dir)


def test_the_cli_acts_for_a_person_and_refuses_in_one_sentence(runs_dir, capsys):
    from tlcore.__main__ import main
    from tlcore.people import roster

    roster.create_class("Year 9", ["alice", "bob"])
    alices = finished(runs_dir, ALICE)
    capsys.readouterr()
    assert main(["runs", "list", "--as", "alice"]) == 0
    assert [json.loads(line)["run_id"] for line in capsys.readouterr().out.splitlines()] == [alices.name]
    assert main(["runs", "list", "--as", "bob"]) == 0 and capsys.readouterr().out == ""
    before = folder_bytes(alices)
    assert main(["runs", "delete", alices.name, "--as", "bob"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: There is no run") and error.count("\n") == 1 and "Traceback" not in error
    assert main(["runs", "rename", alices.name, "hacked by B", "--as", "bob"]) == 2
    assert folder_bytes(alices) == before
    assert main(["runs", "rename", alices.name, "Alice's best", "--as", "alice"]) == 0
    assert load_notes(alices).name == "Alice's best"
    assert main(["runs", "delete", alices.name, "--as", "teacher"]) == 0 and not alices.exists()
    assert main(["runs", "list", "--as", "zed"]) == 2
    assert "no one called 'zed'" in capsys.readouterr().err


def test_a_run_trained_from_the_cli_for_a_student_is_theirs(runs_dir, tmp_path, capsys):
    from imagegen import make_image_folder
    from tlcore.__main__ import main
    from tlcore.people import roster

    roster.create_class("Year 9", ["alice", "bob"])
    data = make_image_folder(tmp_path / "colours", {"reds": 4, "blues": 4}, size=(32, 32))
    assert main(["train", str(data), "--owner", "alice", "--strategy", "scratch", "--epochs", "1",
                 "--image-size", "32", "--quiet"]) == 0
    run_id = json.loads(capsys.readouterr().out.splitlines()[-1])["run_id"]
    assert [r.run_id for r in list_runs(runs_dir, person=ALICE)] == [run_id]
    assert list_runs(runs_dir, person=BOB) == []


@pytest.fixture
def pets(runs_dir, tmp_path):
    from imagegen import make_image_folder
    from tlcore import paths
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan

    return scan(make_image_folder(tmp_path / "pets", {"cats": 3, "dogs": 3}), cache=ImageCache(paths.cache_dir()))


def test_two_students_adding_the_same_pictures_get_a_dataset_each(pets):
    from tlcore.data import datasets

    alices, added_a = datasets.add_dataset(pets, "pets", "folder", pets.root, owner=ALICE)
    bobs, added_b = datasets.add_dataset(pets, "pets", "folder", pets.root, owner=BOB)
    assert added_a and added_b and alices.id != bobs.id
    mine, _ = datasets.add_dataset(pets, "pets", "folder", pets.root)  # single-user mode: the plain content key
    assert mine.id == datasets.content_id(pets)
    assert [r.id for r in datasets.list_datasets(person=ALICE)] == [alices.id]
    assert {r.id for r in datasets.list_datasets(person=TEACHER_9)} == {alices.id, bobs.id, mine.id}
    assert datasets.load_record(alices.id, BOB) is None and datasets.load_record(alices.id, ALICE).id == alices.id


def rename_dataset(record, person):
    from tlcore.data import datasets
    datasets.rename_dataset(record, "hacked by B", person)


def delete_dataset(record, person):
    from tlcore.data import datasets
    datasets.delete_dataset(record, person)


@pytest.mark.parametrize("action", [rename_dataset, delete_dataset], ids=["rename", "delete"])
def test_another_student_cannot_rename_or_delete_a_dataset_the_owner_and_teacher_can(pets, action):
    from tlcore.data import datasets

    alices, _ = datasets.add_dataset(pets, "pets", "folder", pets.root, owner=ALICE)
    with pytest.raises(NotVisible, match="There is no dataset"):
        action(datasets.load_record(alices.id), BOB)
    datasets.share_dataset(alices, TEACHER_9)
    assert [r.id for r in datasets.list_datasets(person=BOB)] == [alices.id]  # shared: seen, trained on
    with pytest.raises(NotYours, match="only the person who added it or the teacher"):
        action(datasets.load_record(alices.id), BOB)
    assert datasets.load_record(alices.id).name == "pets"
    action(datasets.load_record(alices.id), ALICE)
    bobs, _ = datasets.add_dataset(pets, "pets", "folder", pets.root, owner=BOB)
    action(bobs, TEACHER_9)
    with pytest.raises(NotYours, match="Only the teacher"):
        datasets.share_dataset(bobs, BOB)


def summary(run_id, owner, created_at, state="queued"):
    from tlcore.runs.store.listing import RunSummary

    return RunSummary(run_id, Path("/runs") / run_id, RunConfig(data="/data"), {"state": state, "created_at": created_at},
                      owner=owner)


def test_the_queue_takes_turns_across_people_and_is_first_come_first_served_for_one():
    from tlcore.runs.supervision.dispatch import in_line, queue_waits

    alices_ten = [summary(f"a{i}", "Year 9/alice", created_at=i) for i in range(10)]
    bobs = [summary("b0", "Year 9/bob", created_at=20), summary("b1", "Year 9/bob", created_at=21)]
    chens = [summary("c0", "Year 9/chen", created_at=30)]
    order = [s.run_id for s in in_line(alices_ten + bobs + chens)]
    assert order == ["a0", "b0", "c0", "a1", "b1", *(f"a{i}" for i in range(2, 10))]
    assert queue_waits(alices_ten + bobs + chens)["b0"][0] == 2
    training = summary("a-now", "Year 9/alice", created_at=-1, state="running")  # alice's turn is being taken
    assert [s.run_id for s in in_line([training, *alices_ten[:2], *bobs])][:2] == ["b0", "a0"]
    alone = [summary(f"r{i}", "local", created_at=10 - i) for i in range(4)]
    assert [s.run_id for s in in_line(alone)] == ["r3", "r2", "r1", "r0"]


def test_the_teachers_rules_refuse_a_students_run_in_words_and_not_the_teachers(runs_dir):
    from tlcore.errors import InputError
    from tlcore.people import roster
    from tlcore.people.class_rules import ClassRules, RuleRefusal, load_rules, save_rules
    from tlcore.runs.store import creation

    roster.create_class("Year 9", ["alice", "bob"])
    with pytest.raises(NotYours, match="Only the teacher"):
        save_rules("Year 9", ClassRules(max_waiting=1), ALICE)
    save_rules("Year 9", ClassRules(max_waiting=2, max_epochs=20, strategies=("feature_extraction",)), TEACHER_9)
    assert load_rules("Year 9").max_epochs == 20
    from tlcore.data.samples import install_sample

    sample = str(install_sample())  # a built-in set: any student may train on it
    asked = RunConfig(data=sample, epochs=5)
    creation.create_run(asked, runs_dir, owner=ALICE)
    creation.create_run(asked, runs_dir, owner=ALICE)
    for config, says in [(asked, "You have 2 runs waiting, the most your teacher allows"),
                         (RunConfig(data=sample, strategy="fine_tune"), "allows these ways of training: feature_extraction"),
                         (RunConfig(data=sample, epochs=50), "50 epochs is more than this lesson allows \\(20\\)")]:
        person = ALICE if "waiting" in says else BOB
        with pytest.raises(RuleRefusal, match=says):
            creation.create_run(config, runs_dir, owner=person)
    assert issubclass(RuleRefusal, InputError)
    creation.create_run(RunConfig(data="/d", epochs=50), runs_dir, owner=TEACHER_9)  # the teacher's are not limited
    assert len(list_runs(runs_dir)) == 3
