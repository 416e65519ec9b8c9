"""Class mode in the engine, beyond the store's owners (test_owners.py): signing in, school accounts,
the queue's waits, experiments, uploads, label corrections, and the teacher's leaderboard, CSV and reset."""
import csv
import io
import time
from pathlib import Path

import pytest

from tlcore.config import RunConfig
from tlcore.people import accounts, roster, signins
from tlcore.people.person import LOCAL, STUDENT, TEACHER, NotVisible, NotYours, Person
from tlcore.runs import RunFolder, list_runs
from tlcore.runs.store.creation import create_run, make_run_folder
from tlcore.runs.store.owners import NoSuchRun, share_run

ALICE, BOB = Person("alice", STUDENT, "Year 9"), Person("bob", STUDENT, "Year 9")
TEACHER_9 = Person("teacher", TEACHER, "Year 9")


@pytest.fixture
def year9(home):
    """A class of two students, with their join links."""
    return roster.create_class("Year 9", ["alice", "bob"])


def token(link: str) -> str:
    return link.split("=", 1)[1]


# -- signing in ------------------------------------------------------------------------------------

def test_a_join_link_signs_a_browser_in_for_its_person_until_they_leave_the_class(year9):
    alice = roster.person_for_token("Year 9", token(year9["students"]["alice"]))
    kept = signins.sign_in(alice)
    assert kept != token(year9["students"]["alice"])  # the browser keeps its own value, not the join token
    assert signins.signed_in_person("Year 9", kept) == ALICE
    assert signins.signed_in_person("Year 9", kept + "x") is None
    assert signins.signed_in_person("Year 10", kept) is None
    stored = "".join(p.read_text() for p in (roster.classes_dir() / "Year 9" / signins.SIGNINS).iterdir())
    assert kept not in stored  # only its hash is kept
    assert signins.signed_in_person("Year 9", kept, clock=lambda: time.time() + signins.MAX_AGE_S + 1) is None

    roster.remove_student("Year 9", "alice")
    assert signins.signed_in_person("Year 9", kept) is None
    with pytest.raises(ValueError, match="alice left class 'Year 9' and their work is still theirs"):
        roster.add_students("Year 9", ["alice"])  # a new alice would inherit the old one's work
    roster.release_removed_names("Year 9")  # as a class reset does, once that work is archived
    roster.add_students("Year 9", ["alice"])  # a new alice: the old browser is not hers
    assert signins.signed_in_person("Year 9", kept) is None


def test_signing_out_ends_that_browser_only_and_the_cli_ends_them_all(year9, capsys):
    import json

    from tlcore.__main__ import main as cli

    bob = roster.person_for_token("Year 9", token(year9["students"]["bob"]))
    laptop, phone = signins.sign_in(bob), signins.sign_in(bob)
    signins.sign_out("Year 9", laptop)
    assert signins.signed_in_person("Year 9", laptop) is None
    assert signins.signed_in_person("Year 9", phone) == BOB
    teachers = signins.sign_in(TEACHER_9)
    assert signins.signed_in_person("Year 9", teachers) == TEACHER_9
    in_a_day = time.time() + signins.TEACHER_MAX_AGE_S + 1
    assert signins.signed_in_person("Year 9", teachers, clock=lambda: in_a_day) is None  # a teacher's lasts a day
    assert signins.signed_in_person("Year 9", phone, clock=lambda: in_a_day) == BOB  # a student's, the term
    assert cli(["class", "sign-out", "Year 9", "--person", "teacher"]) == 0
    assert json.loads(capsys.readouterr().out) == {"class": "Year 9", "signed_out": 1}
    assert signins.signed_in_person("Year 9", teachers) is None and signins.signed_in_person("Year 9", phone) == BOB


def test_school_accounts_are_teachers_or_students_as_the_teacher_named_them(year9):
    assert accounts.account_person("Year 9", "ms.t@school.test") is None  # named nowhere yet: refused
    accounts.set_accounts("Year 9", teachers=["Ms.T@School.test"], students=["@school.test", "guest@home.test"])
    assert accounts.account_person("Year 9", "ms.t@school.test") == Person("ms.t@school.test", TEACHER, "Year 9")
    assert accounts.account_person("Year 9", "kid@school.test").role == STUDENT
    assert accounts.account_person("Year 9", "guest@home.test").role == STUDENT
    for refused in ("kid@other.test", "", None, "not an address", "kid@school.test.evil"):
        assert accounts.account_person("Year 9", refused) is None
    with pytest.raises(ValueError, match="is not an email address"):
        accounts.set_accounts("Year 9", teachers=["@school.test"])  # a domain of teachers is not allowed


def test_the_cli_names_the_school_accounts(year9, capsys):
    import json

    from tlcore.__main__ import main as cli

    assert cli(["class", "accounts", "Year 9", "--teachers", "Ms.T@school.test", "--students", "@school.test"]) == 0
    assert json.loads(capsys.readouterr().out) == {"class": "Year 9", "teachers": ["ms.t@school.test"],
                                                    "students": ["@school.test"]}
    assert cli(["class", "accounts", "Year 9", "--students", "nobody"]) == 2
    assert "'nobody' is not an email address or @domain" in capsys.readouterr().err
    assert accounts.load_accounts("Year 9")["students"] == ["@school.test"]  # nothing changed by the refusal


def test_an_owners_key_gives_back_who_they_are_now(year9):
    accounts.set_accounts("Year 9", teachers=["ms.t@school.test"])
    assert accounts.person_from_key("Year 9/alice") == ALICE
    assert accounts.person_from_key("Year 9/teacher") == TEACHER_9
    assert accounts.person_from_key("Year 9/ms.t@school.test").is_teacher
    assert accounts.person_from_key("Year 9/gone") == Person("gone", STUDENT, "Year 9")
    assert accounts.person_from_key(LOCAL.key) == LOCAL


# -- the queue -------------------------------------------------------------------------------------

def summary(run_id, owner, created_at, state="queued", **status):
    from tlcore.runs.store.listing import RunSummary

    config = RunConfig(data="/data", device="cpu")
    return RunSummary(run_id, Path("/runs") / run_id, config, {"state": state, "created_at": created_at, **status},
                      owner=owner)


def test_each_queued_run_has_a_place_and_a_start_estimated_from_measured_runs():
    from tlcore.runs.supervision.dispatch import queue_waits

    done = [summary(f"d{i}", "Year 9/alice", i, state="succeeded", wall_s=s) for i, s in enumerate([10.0, 30.0, 20.0])]
    training = summary("t", "Year 9/bob", 10, state="running", progress={"eta_s": 5.0})
    waiting = [summary("a1", "Year 9/alice", 11), summary("a2", "Year 9/alice", 12), summary("c1", "Year 9/chen", 13)]
    waits = queue_waits(done + [training] + waiting)
    # chen's first run goes before alice's second; each takes the median of the runs like it, 20 s
    assert waits == {"a1": (1, 5.0), "c1": (2, 25.0), "a2": (3, 45.0)}
    unmeasured = queue_waits([training] + waiting)
    assert unmeasured["a1"] == (1, 5.0) and unmeasured["c1"] == (2, None)  # nothing measured to go by


def test_after_each_of_one_students_runs_everyone_else_waiting_has_a_turn():
    from tlcore.runs.supervision.dispatch import in_line

    ended = summary("a0", "Year 9/alice", 0, state="succeeded", started_at=5.0)
    alices = [summary(f"a{i}", "Year 9/alice", i) for i in range(1, 10)]  # queued before bob's
    bobs = [summary("b0", "Year 9/bob", 20), summary("b1", "Year 9/bob", 21)]
    assert [s.run_id for s in in_line([ended, *alices, *bobs])][:5] == ["b0", "a1", "b1", "a2", "a3"]
    long_ago = summary("b-old", "Year 9/bob", -10, state="succeeded", started_at=1.0)  # served before alice
    assert [s.run_id for s in in_line([ended, long_ago, *alices, *bobs])][:3] == ["b0", "a1", "b1"]


def test_a_student_cannot_cancel_anothers_queued_run_the_owner_and_teacher_can(runs_dir_in_home):
    from tlcore.runs.supervision.runner import Runner

    runner = Runner(runs_dir_in_home, warm_worker=False)
    alices = [make_run_folder(RunConfig(data="/data/x"), runs_dir_in_home, owner=ALICE).name for _ in range(2)]
    with pytest.raises(NoSuchRun):
        runner.cancel(alices[0], BOB)
    assert RunFolder(runs_dir_in_home / alices[0]).read_status()["state"] == "queued"
    runner.cancel(alices[0], ALICE)
    runner.cancel(alices[1], TEACHER_9)
    assert {RunFolder(runs_dir_in_home / r).read_status()["state"] for r in alices} == {"cancelled"}


@pytest.fixture
def runs_dir_in_home(home):
    return home / "runs"


def test_a_student_starts_only_from_runs_they_may_see(year9, runs_dir_in_home):
    from tlcore.data.samples import install_sample
    from tlcore.runs.store.creation import check_class_rules

    sample = str(install_sample())
    alices = make_run_folder(RunConfig(data=sample), runs_dir_in_home, owner=ALICE)
    RunFolder(alices).update_status(state="succeeded")
    with pytest.raises(NoSuchRun, match="that you can start from"):
        create_run(RunConfig(data=sample, init_from=str(alices)), runs_dir_in_home, owner=BOB)
    share_run(alices, TEACHER_9)
    check_class_rules(RunConfig(data=sample, init_from=str(alices)), BOB, runs_dir_in_home)  # shared: allowed


def test_a_student_trains_only_on_pictures_they_may_see(year9, pets, runs_dir_in_home):
    from tlcore.data import datasets
    from tlcore.data.samples import install_sample
    from tlcore.runs.store.creation import check_class_rules

    alices, _ = datasets.add_dataset(pets, "pets", "folder", pets.root, owner=ALICE)
    sample = str(install_sample())
    check_class_rules(RunConfig(data=pets.root), ALICE, runs_dir_in_home)
    check_class_rules(RunConfig(data=sample, target=pets.root), ALICE, runs_dir_in_home)
    for config in (RunConfig(data=pets.root), RunConfig(data=sample, target=pets.root),
                   RunConfig(data=sample, joint_with=pets.root), RunConfig(data=sample, meta_sources=[pets.root]),
                   RunConfig(data=str(Path(sample).parent))):  # the whole data folder: everyone's uploads
        with pytest.raises(NotVisible, match="There are no pictures .* that you can train on"):
            check_class_rules(config, BOB, runs_dir_in_home)
    datasets.share_dataset(alices, TEACHER_9)
    check_class_rules(RunConfig(data=pets.root), BOB, runs_dir_in_home)  # shared with the class: allowed


# -- experiments -----------------------------------------------------------------------------------

def test_an_experiment_is_its_owners_seen_by_the_teacher_and_cancelled_only_by_them(year9, tmp_path):
    from imagegen import make_image_folder
    from tlcore import paths
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan
    from tlcore.data import datasets
    from tlcore.runs.experiments.grid import grid_arms, list_experiments, new_experiment, open_experiment
    from tlcore.runs.experiments.queue import cancel_experiment, queue_experiment

    manifest = scan(make_image_folder(tmp_path / "pets", {"cats": 4, "dogs": 4}), cache=ImageCache(paths.cache_dir()),
                    image_size=32)
    datasets.add_dataset(manifest, "pets", "folder", manifest.root, owner=ALICE)
    made = []

    def submit(config, checked, owner):
        made.append((create_run(config, None, checked, owner=owner).name, owner))
        return made[-1][0]

    experiment = new_experiment(manifest, arms=grid_arms(["feature_extraction"], ["mobilenet_v2"]), sizes=[2],
                                seeds=2, base={"image_size": 32}, owner=ALICE)
    queue_experiment(experiment, submit)
    assert [owner for _, owner in made] == [ALICE, ALICE]  # its runs are hers, under the class's rules for her
    assert [e.experiment_id for e in list_experiments(BOB)] == []
    assert [e.experiment_id for e in list_experiments(TEACHER_9)] == [experiment.experiment_id]
    with pytest.raises(NotVisible, match="There is no experiment"):
        open_experiment(experiment.experiment_id, BOB)
    for wrong in ("", "..", "../runs", "nothing"):
        with pytest.raises(NotVisible):
            open_experiment(wrong, ALICE)
    cancelled = []
    with pytest.raises(NotYours):
        cancel_experiment(experiment, lambda run_id, person: cancelled.append(run_id), person=BOB)
    assert cancelled == [] and not open_experiment(experiment.experiment_id, ALICE).cancelled
    cancel_experiment(experiment, lambda run_id, person: cancelled.append((run_id, person)), person=TEACHER_9)
    assert cancelled == [(run_id, TEACHER_9) for run_id, _ in made]


def test_a_students_experiment_is_fed_in_as_her_runs_start_never_refused_for_waiting(year9, tmp_path):
    from imagegen import make_image_folder
    from tlcore import paths
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan
    from tlcore.people.class_rules import ClassRules, save_rules
    from tlcore.data import datasets
    from tlcore.runs.experiments.grid import cell_state, grid_arms, is_finished, new_experiment
    from tlcore.runs.experiments.queue import queue_experiment

    save_rules("Year 9", ClassRules(max_waiting=2), TEACHER_9)
    manifest = scan(make_image_folder(tmp_path / "pets", {"cats": 4, "dogs": 4}), cache=ImageCache(paths.cache_dir()),
                    image_size=32)
    datasets.add_dataset(manifest, "pets", "folder", manifest.root, owner=ALICE)
    experiment = new_experiment(manifest, arms=grid_arms(["feature_extraction"], ["mobilenet_v2"]), sizes=[2],
                                seeds=3, base={"image_size": 32}, owner=ALICE)

    def submit(config, checked, owner):
        return create_run(config, None, checked, owner=owner).name
    assert queue_experiment(experiment, submit) == 2
    assert [cell_state(cell, paths.runs_dir()) for cell in experiment.cells] == ["queued", "queued", "waiting"]
    assert queue_experiment(experiment, submit) == 0 and not is_finished(experiment)
    RunFolder(paths.runs_dir() / experiment.cells[0].run_id).update_status(state="running")  # one of hers started
    assert queue_experiment(experiment, submit) == 1
    assert not any(cell.refused for cell in experiment.cells)


# -- datasets: last used, the shared sample, corrections, uploads --------------------------------------

@pytest.fixture
def pets(home, tmp_path):
    from imagegen import make_image_folder
    from tlcore import paths
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan

    return scan(make_image_folder(tmp_path / "pets", {"cats": 3, "dogs": 3}), cache=ImageCache(paths.cache_dir()))


def test_each_person_starts_a_new_tab_with_the_dataset_they_used_last(pets, tmp_path):
    from imagegen import make_image_folder
    from tlcore import paths
    from tlcore.data import datasets
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan

    other = scan(make_image_folder(tmp_path / "cars", {"vans": 3, "buses": 3}), cache=ImageCache(paths.cache_dir()))
    alices, _ = datasets.add_dataset(pets, "pets", "folder", pets.root, owner=ALICE)
    bobs, _ = datasets.add_dataset(other, "cars", "folder", other.root, owner=BOB)
    datasets.mark_used(alices, ALICE)
    datasets.mark_used(bobs, BOB)  # bob's choice, made after alice's, is not alice's
    assert datasets.last_used(ALICE).id == alices.id and datasets.last_used(BOB).id == bobs.id
    datasets.share_dataset(alices, TEACHER_9)
    before = datasets.load_record(alices.id).used_at
    datasets.mark_used(datasets.load_record(alices.id), BOB)  # a shared dataset: its record stays its owner's
    assert datasets.load_record(alices.id).used_at == before and datasets.last_used(BOB).id == alices.id


def test_deleting_ones_own_record_of_the_built_in_sample_leaves_the_others(home):
    from tlcore import paths
    from tlcore.data import datasets
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.samples import install_sample
    from tlcore.data.scan import scan

    folder = install_sample()
    manifest = scan(folder, cache=ImageCache(paths.cache_dir()))
    alices, _ = datasets.add_dataset(manifest, "sample", "sample", folder, studio_copy=True, owner=ALICE)
    bobs, _ = datasets.add_dataset(manifest, "sample", "sample", folder, studio_copy=True, owner=BOB)
    datasets.delete_dataset(alices, ALICE)
    assert folder.is_dir() and datasets.load_record(bobs.id).available()
    assert ImageCache(paths.cache_dir()).has(manifest.samples[0].key, manifest.image_size)
    datasets.delete_dataset(bobs, BOB)  # the last record of it: now the copy goes
    assert not folder.exists()


def test_label_corrections_are_the_datasets_owners_and_the_teachers(pets):
    from tlcore.data import datasets
    from tlcore.data.overrides import Overrides, load_overrides

    alices, _ = datasets.add_dataset(pets, "pets", "folder", pets.root, owner=ALICE)
    datasets.share_dataset(alices, TEACHER_9)
    corrections = Overrides()
    corrections.exclude(pets.samples[0])
    with pytest.raises(NotYours, match="correct the labels"):
        datasets.save_corrections(alices, corrections, BOB)
    assert not load_overrides(alices.folder).current()
    datasets.save_corrections(alices, corrections, ALICE)
    assert len(load_overrides(alices.folder).current()) == 1


class Uploaded(io.BytesIO):
    def __init__(self, name: str, data: bytes):
        super().__init__(data)
        self.name, self.size = name, len(data)


def test_a_students_uploads_stop_at_the_teachers_allowance_and_say_how_to_make_room(year9, tmp_path):
    from tlcore.data.allowance import upload_allowance, uploaded_bytes
    from tlcore.data.manifest import DataError
    from tlcore.data.uploads import save_folder_upload
    from tlcore.people.class_rules import ClassRules, save_rules

    assert upload_allowance(ALICE) is None and upload_allowance(TEACHER_9) is None and upload_allowance(LOCAL) is None
    save_rules("Year 9", ClassRules(max_upload_mb=1), TEACHER_9)
    allowance = upload_allowance(ALICE)
    assert allowance.bytes == 1024**2 and upload_allowance(TEACHER_9) is None
    small = [Uploaded(f"pets/cats/{i}.png", b"x" * 1000) for i in range(3)]
    assert save_folder_upload(small, tmp_path / "up", allowance=allowance).files == 3
    big = [Uploaded(f"pets/cats/{i}.png", b"x" * 400_000) for i in range(3)]
    with pytest.raises(DataError, match="Your teacher allows each student 1 MB .* Delete one of your datasets"):
        save_folder_upload(big, tmp_path / "up", allowance=allowance)
    assert len(list((tmp_path / "up").iterdir())) == 1  # the refused upload left nothing behind
    assert uploaded_bytes(ALICE) == 0  # an upload counts once it is one of her datasets

    import zipfile

    from tlcore.data.uploads import save_zip_upload
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(3):
            archive.writestr(f"pets/cats/{i}.png", b"\0" * 400_000)  # 1.2 MB unpacked, a few kB packed
    with pytest.raises(DataError, match="Your teacher allows each student 1 MB"):
        save_zip_upload(Uploaded("pets.zip", packed.getvalue()), tmp_path / "up", allowance=allowance)
    with pytest.raises(DataError, match="is not a valid zip file"):  # any other refusal is said as it is
        save_zip_upload(Uploaded("pets.zip", b"not a zip"), tmp_path / "up", allowance=allowance)
    assert len(list((tmp_path / "up").iterdir())) == 1


# -- the teacher's view ----------------------------------------------------------------------------

def test_the_class_results_are_the_teachers_and_their_csv_cannot_run_a_formula(year9, runs_dir_in_home):
    from tlcore.classroom.roster_runs import class_runs, result_rows, results_csv

    run_dir = make_run_folder(RunConfig(data="/data/=cmd|' -C calc'!A0", name="=HYPERLINK(1)"), runs_dir_in_home,
                              owner=ALICE)
    RunFolder(run_dir).update_status(state="succeeded", best_val_acc=0.9, wall_s=12.0)
    make_run_folder(RunConfig(data="/data/x"), runs_dir_in_home, owner=Person("carol", STUDENT, "Year 10"))
    with pytest.raises(NotYours):
        class_runs("Year 9", ALICE, runs_dir_in_home)
    rows = result_rows(class_runs("Year 9", TEACHER_9, runs_dir_in_home), {run_dir.name: {"accuracy": 0.8}})
    assert [(r["student"], r["state"], r["best_val_acc"], r["test_acc"]) for r in rows] == [
        ("alice", "succeeded", 0.9, 0.8)]
    [written] = list(csv.DictReader(io.StringIO(results_csv(rows))))
    assert written["run"] == "'=HYPERLINK(1)" and written["dataset"].startswith("'=")


@pytest.mark.slow
def test_the_leaderboard_scores_finished_runs_on_the_teachers_own_test_set(shapes_run, monkeypatch, tmp_path):
    import shutil

    from tlcore import paths
    from tlcore.classroom.leaderboard import leaderboard, score_waiting, scores, set_test_set
    from tlcore.data import datasets
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan
    from tlcore.runs.store.owners import owner_record

    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "home"))
    roster.create_class("Year 9", ["alice", "bob"])
    runs_dir = paths.runs_dir()
    for person in (ALICE, BOB):
        copy = runs_dir / f"{shapes_run.run_dir.name}-{person.name}"
        shutil.copytree(shapes_run.run_dir, copy)
        RunFolder(copy).write_json(RunFolder.OWNER, owner_record(person))
    manifest = scan(shapes_run.data, cache=ImageCache(paths.cache_dir()))
    test_record, _ = datasets.add_dataset(manifest, "exam", "folder", shapes_run.data, owner=TEACHER_9)
    shared, _ = datasets.add_dataset(manifest, "shared", "folder", shapes_run.data, owner=ALICE)
    with pytest.raises(NotYours):
        set_test_set("Year 9", test_record.id, ALICE)
    datasets.share_dataset(test_record, TEACHER_9)
    with pytest.raises(ValueError, match="not shared with the class"):
        set_test_set("Year 9", test_record.id, TEACHER_9)
    datasets.share_dataset(test_record, TEACHER_9, shared=False)
    set_test_set("Year 9", test_record.id, TEACHER_9)
    assert score_waiting("Year 9", TEACHER_9, limit=1) == 1 and len(scores("Year 9")) == 1
    assert score_waiting("Year 9", TEACHER_9, limit=5) == 1 and score_waiting("Year 9", TEACHER_9) == 0
    board = leaderboard("Year 9", TEACHER_9)
    assert sorted(row["student"] for row in board) == ["alice", "bob"]
    assert all(row["pictures"] == len(manifest.samples) and 0.5 < row["accuracy"] <= 1 for row in board)
    with pytest.raises(NotYours):
        leaderboard("Year 9", BOB)
    assert shared.id != test_record.id


def test_a_reset_archives_every_students_work_and_keeps_the_teachers(year9, pets, runs_dir_in_home):
    from tlcore.classroom.reset import archived, reset_class
    from tlcore.data import datasets

    runs = {person: make_run_folder(RunConfig(data="/data/x"), runs_dir_in_home, owner=person)
            for person in (ALICE, BOB, TEACHER_9)}
    datasets.add_dataset(pets, "pets", "folder", pets.root, owner=ALICE)
    teachers, _ = datasets.add_dataset(pets, "pets", "folder", pets.root, owner=TEACHER_9)
    with pytest.raises(ValueError, match="still waiting or training"):
        reset_class("Year 9", TEACHER_9, runs_dir_in_home)
    for run_dir in runs.values():
        RunFolder(run_dir).update_status(state="succeeded")
    with pytest.raises(NotYours):
        reset_class("Year 9", ALICE, runs_dir_in_home)
    moved = reset_class("Year 9", TEACHER_9, runs_dir_in_home)
    assert (moved["runs"], moved["datasets"]) == (2, 1)
    assert [r.run_dir for r in list_runs(runs_dir_in_home)] == [runs[TEACHER_9]]
    assert [r.id for r in datasets.list_datasets()] == [teachers.id]
    archive = Path(moved["archive"])
    assert {p.name for p in (archive / "runs").iterdir()} == {runs[ALICE].name, runs[BOB].name}
    assert archived("Year 9") == [archive.name]
