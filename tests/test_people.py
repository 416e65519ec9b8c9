"""Classes and their join tokens: made, added to, listed and removed; tokens kept only as hashes."""
import json

import pytest

from tlcore.errors import InputError
from tlcore.people import roster
from tlcore.people.person import Person
from tlcore.people.tokens import FORGET_AFTER_S, FREE_TRIES, WrongTokenDelay


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("TLSTUDIO_HOME", str(tmp_path / "studio"))
    return tmp_path / "studio"


def token_of(link: str) -> str:
    assert link.startswith(roster.JOIN)
    return link[len(roster.JOIN):]


def test_a_class_gives_each_person_a_link_that_signs_them_in_and_keeps_no_token(home):
    made = roster.create_class("Year 9", ["alice", "bob"])
    assert set(made) == {"class", "teacher", "students"} and set(made["students"]) == {"alice", "bob"}
    tokens = [token_of(made["teacher"]), *map(token_of, made["students"].values())]
    assert len(set(tokens)) == 3 and all(len(t) >= 32 for t in tokens)  # 24 random bytes, url-safe
    alice = roster.person_for_token("Year 9", token_of(made["students"]["alice"]))
    assert alice == Person("alice", "student", "Year 9")
    assert roster.person_for_token("Year 9", token_of(made["teacher"])).is_teacher
    stored = (home / "classes" / "Year 9" / "roster.json").read_text()
    assert not any(token in stored for token in tokens)  # only their hashes
    assert roster.person_for_token("Year 9", tokens[1][:-1] + "x") is None
    assert roster.person_for_token("Year 9", "") is None and roster.person_for_token("No class", tokens[1]) is None


def test_students_are_added_listed_and_removed_and_a_removed_link_stops_working(home):
    made = roster.create_class("Year 9", ["alice"])
    added = roster.add_students("Year 9", ["bob", "chen"])
    assert set(added["students"]) == {"bob", "chen"}
    assert roster.class_members("Year 9")["students"] == ["alice", "bob", "chen"]
    roster.remove_student("Year 9", "alice")
    assert roster.person_for_token("Year 9", token_of(made["students"]["alice"])) is None
    assert roster.person_for_token("Year 9", token_of(added["students"]["bob"])).name == "bob"
    assert roster.list_classes() == ["Year 9"]


@pytest.mark.parametrize("names, says", [(["alice", "alice"], "given twice"), (["teacher"], "already in class"),
                                         (["../etc"], "cannot be a student name"), (["a" * 41], "1 to 40")])
def test_names_that_cannot_be_told_apart_or_used_are_refused_and_nothing_is_written(home, names, says):
    roster.create_class("Year 9", ["alice"])
    before = (home / "classes" / "Year 9" / "roster.json").read_bytes()
    with pytest.raises(InputError, match=says):
        roster.add_students("Year 9", names)
    assert (home / "classes" / "Year 9" / "roster.json").read_bytes() == before


def test_a_class_is_made_once_and_an_unknown_one_is_named(home):
    roster.create_class("Year 9", [])
    with pytest.raises(InputError, match="already a class called 'Year 9'"):
        roster.create_class("Year 9", ["bob"])
    with pytest.raises(InputError, match="no class called 'Year 10' \\(classes here: Year 9\\)"):
        roster.add_students("Year 10", ["bob"])
    with pytest.raises(InputError, match="no student called 'zed'"):
        roster.remove_student("Year 9", "zed")


def test_repeated_wrong_tokens_wait_longer_a_right_one_does_not_clear_the_wait_time_does():
    now = [100.0]
    delay = WrongTokenDelay(clock=lambda: now[0])

    def wrong():
        return None
    for _ in range(FREE_TRIES):
        assert delay.attempt("10.0.0.7", wrong) == (None, 0.0)
    waits = []
    for _ in range(3):
        waits.append(delay.wait_s("10.0.0.7"))
        now[0] += waits[-1]
        delay.attempt("10.0.0.7", wrong)
    assert 0 < waits[0] < waits[1] < waits[2]  # doubling
    assert delay.attempt("10.0.0.8", lambda: "alice") == ("alice", 0.0)  # another client is not slowed
    asked = []
    assert delay.attempt("10.0.0.7", lambda: asked.append(1))[1] > 0 and asked == []  # not even checked meanwhile
    now[0] += 60
    assert delay.attempt("10.0.0.7", lambda: "alice") == ("alice", 0.0)
    assert delay.attempt("10.0.0.7", wrong) == (None, 0.0) and delay.wait_s("10.0.0.7") > 0  # still counted
    now[0] += FORGET_AFTER_S + 1
    assert delay.wait_s("10.0.0.7") == 0.0  # forgotten in time


def test_the_cli_makes_a_class_prints_its_links_and_writes_printable_cards(home, capsys):
    from tlcore.__main__ import main

    assert main(["class", "create", "Year 9", "--students", "alice,bob", "--address", "http://10.0.0.2:8501"]) == 0
    made = json.loads(capsys.readouterr().out.splitlines()[0])
    assert set(made["students"]) == {"alice", "bob"} and made["teacher"].startswith("/?join=")
    cards = (home / "classes" / "Year 9" / "join_cards.html").read_text()
    assert cards.count("<svg") == 3 and "http://10.0.0.2:8501" + made["students"]["bob"] in cards
    assert main(["class", "add-students", "Year 9", "--students", "alice"]) == 2
    assert "already in class" in capsys.readouterr().err
    assert main(["class", "list"]) == 0
    assert json.loads(capsys.readouterr().out)["students"] == ["alice", "bob"]


def test_the_cli_sets_and_prints_the_class_rules(home, capsys):
    from tlcore.__main__ import main

    roster.create_class("Year 9", ["alice"])
    assert main(["class", "rules", "Year 9", "--max-waiting", "3", "--strategies", "feature_extraction,fine_tune"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["strategies"] == ["feature_extraction", "fine_tune"]
    assert main(["class", "rules", "Year 9", "--max-epochs", "15"]) == 0
    rules = json.loads(capsys.readouterr().out)
    assert rules["max_waiting"] == 3 and rules["max_epochs"] == 15
    assert main(["class", "rules", "Year 10"]) == 2
