"""A class on one server, in Chromium: a teacher and two students through their join links, and a teacher
through a school account (st.login against a real OpenID Connect provider on 127.0.0.1).

One class server for the module (TLSTUDIO_CLASS set, as `./studio run --class` does), its own studio home,
and a browser context per person, as each sits at their own computer.
"""
from __future__ import annotations

import re
import time
from contextlib import contextmanager

import pytest

from browser_support import StudioServer, click_until, context_page, dataframe_rows, go_to, main, settle
from imagegen import make_image_folder
from oidc_support import identity_provider, write_auth_secrets
from tlcore.config import RunConfig
from tlcore.people.person import STUDENT, TEACHER, Person
from tlcore.runs import RunFolder
from waiting import wait_for

from .steps import FIRST_LOAD_MS, IMAGE_SIZE, choose_training, expect, start_training, upload_dataset

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

CLASS = "Year 9"
ALICE, BOB = Person("alice", STUDENT, CLASS), Person("bob", STUDENT, CLASS)
TEACHER_9 = Person("teacher", TEACHER, CLASS)
SCHOOL_TEACHER = "ms.t@school.test"
UNVERIFIED_TEACHER = "mr.u@school.test"  # named a teacher, but the provider does not vouch for the address
STRANGER = "stranger@elsewhere.test"  # vouched for, but named in no class
FEATURES = "Reuse what it already sees (feature extraction)"


@pytest.fixture(scope="module")
def classroom(tmp_path_factory, request):
    """The class server, its class's join links, and the pictures the students bring."""
    from tlcore.models.weights import weights_status

    root = tmp_path_factory.mktemp("classroom")
    env = {"TLSTUDIO_CLASS": CLASS, "TLSTUDIO_ALLOWED_ROOTS": str(root)}
    if weights_status("mobilenet_v2").source != "cached":
        env["TORCH_HOME"] = str(request.getfixturevalue("offline_torch_home"))
    with pytest.MonkeyPatch.context() as patch, identity_provider(verified=[SCHOOL_TEACHER, STRANGER]) as provider:
        patch.setenv("TLSTUDIO_HOME", str(root / "home"))
        from tlcore.people import accounts, roster

        links = roster.create_class(CLASS, ["alice", "bob"])
        accounts.set_accounts(CLASS, teachers=[SCHOOL_TEACHER, UNVERIFIED_TEACHER])
        server = StudioServer(root / "home", env)
        secrets_file = write_auth_secrets(root / "secrets.toml", server.url, provider)
        server.extra_args = ["--secrets.files", str(secrets_file)]
        shapes = make_image_folder(root / "pictures" / "shapes", {"circles": 6, "squares": 6, "crosses": 6})
        with server:
            yield {"server": server, "links": links, "shapes": shapes, "provider": provider}


@contextmanager
def joined(browser, classroom, who: str):
    """The page of a browser of one's own, signed in through one's join link."""
    link = classroom["links"]["teacher"] if who == "teacher" else classroom["links"]["students"][who]
    with context_page(browser, classroom["server"].url) as page:
        page.goto(link)
        expect(signed_in_as(page, who)).to_be_visible(timeout=FIRST_LOAD_MS)
        settle(page)
        yield page


@pytest.fixture(scope="module")
def alice(browser, classroom):
    with joined(browser, classroom, "alice") as page:
        yield page


@pytest.fixture(scope="module")
def bob(browser, classroom):
    with joined(browser, classroom, "bob") as page:
        yield page


@pytest.fixture(scope="module")
def teacher(browser, classroom):
    with joined(browser, classroom, "teacher") as page:
        yield page


def signed_in_as(page, who: str):
    return page.get_by_test_id("stSidebar").get_by_text(re.compile(rf"{re.escape(who)} · (student|teacher) · class"))


def table(page, column: str):
    """The table (st.dataframe) with this column."""
    return main(page).get_by_test_id("stDataFrame").filter(has=page.locator("th", has_text=column))


def everyones_runs(page) -> str:
    rows = wait_for(lambda: dataframe_rows(table(page, "way of training")), timeout=10, message="everyone's runs")
    return "\n".join(" | ".join(row) for row in rows)


def browser_of(page):
    return page.context.browser


def run_owner_files(server) -> dict[str, str]:
    return {run_dir.name: RunFolder(run_dir).read_json(RunFolder.OWNER)["owner"]
            for run_dir in server.runs_dir.iterdir() if run_dir.is_dir() and not run_dir.name.startswith(".")}


def test_nothing_is_shown_before_sign_in_and_a_wrong_link_gets_only_the_join_page(browser, classroom, shots):
    with context_page(browser, classroom["server"].url) as page:
        for address in ("/", "/runs", "/?join=not-a-token"):
            page.goto(address)
            expect(main(page).get_by_role("heading", name=f"Class {CLASS}")).to_be_visible(timeout=FIRST_LOAD_MS)
            expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
        expect(main(page).get_by_text("This join link is not (or no longer) one of this class's")).to_be_visible()
        shots.take(page, "11-class-join-page")


def test_two_students_and_a_teacher_each_see_and_change_only_what_they_may(classroom, alice, bob, teacher):
    server, shapes = classroom["server"], classroom["shapes"]
    assert "join=" not in alice.url  # the token is dropped from the address once used
    alice.reload()  # the browser's own sign-in: no link needed any more
    expect(signed_in_as(alice, "alice")).to_be_visible(timeout=FIRST_LOAD_MS)

    # Alice brings her pictures and trains; Bob brings his own copy of the same pictures.
    upload_dataset(alice, shapes)
    go_to(alice, "Train")
    choose_training(alice, FEATURES, epochs=3)
    alices_run = start_training(alice)
    upload_dataset(bob, shapes)

    # Bob sees none of Alice's things: not in his lists, not by the run's address.
    go_to(bob, "Runs")
    expect(main(bob).get_by_text("No runs yet.")).to_be_visible()
    bob.goto(f"/runs?run={alices_run}")
    expect(main(bob).get_by_role("heading", name="Runs", level=1)).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(main(bob).get_by_text(alices_run)).to_have_count(0)
    go_to(bob, "Data")
    expect(main(bob).locator('[class*="st-key-dataset_"]')).to_have_count(1)  # his own upload only

    # The teacher's Class page lists it under her name, whatever its state; by its address, the teacher may
    # rename or delete it (and cancel it while it trains).
    go_to(teacher, "Class")
    assert "alice" in everyones_runs(teacher)
    assert run_owner_files(server)[alices_run] == f"{CLASS}/alice"
    teacher.goto(f"/runs?run={alices_run}")
    expect(main(teacher).get_by_text(alices_run).first).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(main(teacher).get_by_text("Rename, add a note, star or delete this run")).to_be_visible()


def test_each_tab_keeps_its_own_dataset_and_target(classroom, alice):
    first = alice  # her tab trains on her shapes, as the test before left it
    second = first.context.new_page()  # a second tab of hers picks the built-in sample
    second.goto("/")
    expect(signed_in_as(second, "alice")).to_be_visible(timeout=FIRST_LOAD_MS)
    main(second).get_by_role("button", name="Try the sample dataset").click()
    expect(main(second).get_by_text("Training on Fashion sample")).to_be_visible(timeout=60_000)

    # Back in the first tab: the sample as the pictures from where the model will be used (the target).
    go_to(first, "Data")
    target_form = main(first).get_by_test_id("stForm").filter(has_text="One of your datasets")
    target_form.get_by_role("button", name="Use these as the pictures where it will be used").click()
    expect(main(first).get_by_text("Where the model will be used: Fashion sample")).to_be_visible(timeout=60_000)
    first.reload()  # after a reload, the first tab still trains on her shapes, with that target
    expect(main(first).get_by_role("heading", name=f"Check before training: {classroom['shapes'].name}")
           ).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(main(first).get_by_text("Where the model will be used: Fashion sample")).to_be_visible()
    second.reload()
    go_to(second, "Train")
    expect(main(second).get_by_text("Training on Fashion sample")).to_be_visible()


def test_ten_queued_runs_of_one_student_do_not_hold_back_anothers_first_and_a_limit_refuses(classroom, alice, bob):
    from tlcore.people.class_rules import ClassRules, save_rules
    from tlcore.runs.store.creation import create_run
    from tlcore.runs.supervision.runner import Runner

    from tlcore.data.datasets import list_datasets

    server = classroom["server"]
    save_rules(CLASS, ClassRules(max_waiting=10), TEACHER_9)
    alices = []
    try:
        with pytest.MonkeyPatch.context() as patch:
            go_to(bob, "Train")
            choose_training(bob, FEATURES, epochs=2)
            patch.setenv("TLSTUDIO_HOME", str(server.home))
            her_upload = next(record.root for record in list_datasets(ALICE) if record.kind == "upload")
            quick = RunConfig(data=her_upload, strategy="fine_tune", epochs=2, head_epochs=1, image_size=IMAGE_SIZE,
                              batch_size=4, early_stop_patience=0)
            alices += [create_run(quick.replace(seed=i, name=f"alice {i}"), server.runs_dir, owner=ALICE).name
                       for i in range(10)]  # her ten, queued just before Bob presses Start
            bobs = start_training(bob)
        save_rules(CLASS, ClassRules(max_waiting=3), TEACHER_9)
        go_to(alice, "Train")  # one more of hers: refused in words, nothing made
        choose_training(alice, FEATURES, epochs=2)
        main(alice).get_by_role("button", name="Start training").click()
        expect(main(alice).get_by_text("runs waiting, the most your teacher allows")).to_be_visible()

        def started(run_id):
            return server.run_statuses()[run_id].get("started_at")
        wait_for(lambda: started(bobs), timeout=180, message="bob's first run started")
        assert started(alices[1]) is None or started(bobs) < started(alices[1]), \
            "Bob's first run waited behind Alice's second"
    finally:
        with pytest.MonkeyPatch.context() as patch:  # the teacher cancels the rest of hers, as they may anyone's
            patch.setenv("TLSTUDIO_HOME", str(server.home))
            runner = Runner(server.runs_dir, warm_worker=False)
            for run_id in alices:
                runner.cancel(run_id, TEACHER_9)


def test_the_teachers_page_shows_both_students_runs_and_the_leaderboard(classroom, bob, teacher, shots):
    server, shapes = classroom["server"], classroom["shapes"]
    from tlcore import paths
    from tlcore.data import datasets
    from tlcore.data.imagecache import ImageCache
    from tlcore.data.scan import scan

    with pytest.MonkeyPatch.context() as patch:  # the teacher's own copy of the pictures, to keep as the test set
        patch.setenv("TLSTUDIO_HOME", str(server.home))
        datasets.add_dataset(scan(shapes, cache=ImageCache(paths.cache_dir())), "exam pictures", "folder", shapes,
                             owner=TEACHER_9)
    with joined(browser_of(bob), classroom, "bob") as bobs_other_browser:
        go_to(bobs_other_browser, "Train")  # a new browser of his starts with the dataset he used last
        expect(main(bobs_other_browser).get_by_text(f"Training on {shapes.name}")).to_be_visible()
    go_to(teacher, "Class")
    main(teacher).get_by_role("combobox", name="Test set").click()
    teacher.get_by_role("option", name="exam pictures").click()
    settle(teacher)

    def scored() -> bool:  # scoring happens in the background: the page shows it when next drawn
        teacher.reload()
        expect(table(teacher, "way of training")).to_be_visible(timeout=FIRST_LOAD_MS)
        board = table(teacher, "accuracy on the test set")
        if board.count() == 0:
            return False
        rows = wait_for(lambda: dataframe_rows(board), timeout=10, message="the leaderboard's rows")
        return {"alice", "bob"} <= {cell for row in rows[1:] for cell in row}
    wait_for(scored, timeout=120, every=3, message="both students' runs on the leaderboard")
    everyone = everyones_runs(teacher)
    assert "alice" in everyone and "bob" in everyone
    shots.take(teacher, "11-class-teacher-page")


def test_a_teacher_signs_in_with_a_school_account(browser, classroom):
    with context_page(browser, classroom["server"].url) as page:
        # The provider's pages link a stylesheet on the internet; nothing leaves this machine.
        page.context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/]).*"), lambda route: route.abort())
        page.goto("/")
        sign_in = main(page).get_by_role("button", name="Sign in with your school account")
        expect(sign_in).to_be_visible(timeout=FIRST_LOAD_MS)
        started = time.monotonic()
        sign_in.click()
        page.wait_for_url(f"{classroom['provider']}/oauth2/authorize*")
        page.locator('input[name="sub"]').fill(SCHOOL_TEACHER)
        page.get_by_role("button", name="Authorize", exact=True).click()
        expect(signed_in_as(page, SCHOOL_TEACHER)).to_be_visible(timeout=FIRST_LOAD_MS)
        print(f"school-account sign-in: {time.monotonic() - started:.1f} s")
        go_to(page, "Class")  # a teacher by the account's name
        page.reload()
        expect(signed_in_as(page, SCHOOL_TEACHER)).to_be_visible(timeout=FIRST_LOAD_MS)
        page.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{classroom['provider']}/oauth2/end_session*")  # the provider ends its session too
        page.get_by_role("button", name="End session").click()
        expect(main(page).get_by_role("button", name="Sign in with your school account")).to_be_visible(
            timeout=FIRST_LOAD_MS)

    for account, says in [(STRANGER, "is not in class Year 9"),
                          (UNVERIFIED_TEACHER, "did not confirm the address")]:
        with context_page(browser, classroom["server"].url) as page:
            page.context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/]).*"), lambda route: route.abort())
            page.goto("/")
            click_until(page, main(page).get_by_role("button", name="Sign in with your school account"),
                        page.locator('input[name="sub"]'))
            page.locator('input[name="sub"]').fill(account)
            page.get_by_role("button", name="Authorize", exact=True).click()
            expect(main(page).get_by_text(says)).to_be_visible(timeout=FIRST_LOAD_MS)
            expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
            expect(main(page).get_by_role("button", name="Sign out of the school account")).to_be_visible()
