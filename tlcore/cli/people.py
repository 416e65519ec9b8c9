"""class and runs: a class's roster and join links, and the store's actions on behalf of a person.

`--as NAME` (and train's `--owner NAME`) speaks for a member of the studio's class: `teacher` for its
teacher. The command line is trusted as the server is (whoever runs it can read the studio's files);
it exists so that the boundary the pages rely on can be checked without a browser.
"""
from __future__ import annotations

import json
import socket
import time
from dataclasses import asdict
from pathlib import Path

from tlcore.cli.options import UserError, positive_int
from tlcore.people.person import LOCAL, Person


def add_people_parsers(sub) -> None:
    group = sub.add_parser("class", help="a class: its students and their join links (class mode)")
    actions = group.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make a class; prints one JSON line of join links, writes join cards")
    create.add_argument("name")
    create.add_argument("--students", default="", help="comma-separated names")
    create.add_argument("--address", default=None,
                        help="the server's address for the cards' links and QR codes (default http://HOSTNAME:8501)")
    add = actions.add_parser("add-students", help="add students; prints their join links, writes their cards")
    add.add_argument("name")
    add.add_argument("--students", required=True, help="comma-separated names")
    add.add_argument("--address", default=None)
    listing = actions.add_parser("list", help="the class's students (no links: those were shown once)")
    listing.add_argument("name", nargs="?", default=None)
    rules = actions.add_parser("rules", help="the teacher's rules: runs waiting per student, a lesson's locked "
                                             "settings; prints them (changed by the options given)")
    rules.add_argument("name")
    rules.add_argument("--max-waiting", type=positive_int, default=None, help="a student's runs queued at once")
    rules.add_argument("--max-epochs", type=positive_int, default=None)
    rules.add_argument("--max-image-size", type=positive_int, default=None)
    rules.add_argument("--strategies", default=None, help="comma-separated ways of training allowed ('' for all)")
    rules.add_argument("--backbones", default=None, help="comma-separated networks allowed ('' for all)")
    accounts = actions.add_parser("accounts", help="school accounts (sign-in through the identity provider): which "
                                                   "are the teachers, which are students; prints them")
    accounts.add_argument("name")
    accounts.add_argument("--teachers", default=None, help="comma-separated addresses ('' for none)")
    accounts.add_argument("--students", default=None, help="comma-separated addresses or @domains ('' for none)")
    signout = actions.add_parser("sign-out", help="end the class's browser sign-ins (or one person's): their "
                                                  "join links sign them in again")
    signout.add_argument("name")
    signout.add_argument("--person", default=None, help="only this person's (a student's name, or teacher)")
    remove = actions.add_parser("remove-student", help="their link stops working; their runs stay for the teacher")
    remove.add_argument("name")
    remove.add_argument("student")

    runs = sub.add_parser("runs", help="list, rename or delete runs, as a person of the class")
    actions = runs.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="one JSON line per run the person may see")
    delete = actions.add_parser("delete", help="delete a finished run the person may delete")
    delete.add_argument("run")
    rename = actions.add_parser("rename", help="give a run a name")
    rename.add_argument("run")
    rename.add_argument("new_name")
    for parser in (listing, delete, rename):
        add_person_options(parser, "--as", "the person asking: a student's name, or teacher")
        parser.add_argument("--runs-dir", default=None)


def add_person_options(parser, flag: str, help_text: str) -> None:
    parser.add_argument(flag, dest="person", default=None, metavar="NAME", help=help_text)
    parser.add_argument("--class", dest="class_name", default=None,
                        help="the class the person belongs to (needed when the studio has several)")


def person_from_args(args) -> Person:
    """LOCAL without a name; otherwise the member of the named class (or of the only class)."""
    from tlcore.people.roster import find_person, list_classes

    if args.person is None:
        return LOCAL
    class_name = args.class_name
    if class_name is None:
        classes = list_classes()
        if len(classes) != 1:
            raise UserError(f"Say which class {args.person} is in with --class (classes here: "
                            f"{', '.join(classes) or 'none'}).")
        class_name = classes[0]
    return find_person(class_name, args.person)


def command_class(args) -> int:
    from tlcore.people import roster
    from tlcore.people.join_cards import write_join_cards

    if args.action in ("create", "add-students"):
        students = [name for name in args.students.split(",") if name.strip()]
        made = roster.create_class(args.name, students) if args.action == "create" else \
            roster.add_students(args.name, students)
        links = {**({roster.TEACHER_NAME: made["teacher"]} if "teacher" in made else {}), **made["students"]}
        address = args.address or f"http://{socket.gethostname()}:8501"
        cards = roster.classes_dir() / made["class"] / ("join_cards.html" if args.action == "create" else
                                                        time.strftime("join_cards_added_%Y%m%d-%H%M%S.html"))
        write_join_cards(cards, made["class"], links, address)
        print(json.dumps({**made, "cards": str(cards)}), flush=True)
    elif args.action == "rules":
        print(json.dumps(asdict(command_rules(args))), flush=True)
    elif args.action == "sign-out":
        from tlcore.people.signins import sign_out_all

        class_name = roster.load_roster(args.name)["name"]  # an unknown class is named as such
        print(json.dumps({"class": class_name, "signed_out": sign_out_all(class_name, args.person)}), flush=True)
    elif args.action == "accounts":
        from tlcore.people.accounts import set_accounts

        def listed(text):
            return None if text is None else [item for item in text.split(",") if item.strip()]
        print(json.dumps({"class": args.name, **set_accounts(args.name, listed(args.teachers), listed(args.students))}),
              flush=True)
    elif args.action == "list":
        names = [args.name] if args.name else roster.list_classes()
        for name in names:
            print(json.dumps(roster.class_members(name)), flush=True)
    else:
        roster.remove_student(args.name, args.student)
        print(json.dumps({"class": args.name, "removed": args.student}), flush=True)
    return 0


def command_rules(args):
    from dataclasses import replace

    from tlcore.people.class_rules import load_rules, save_rules
    from tlcore.people.roster import find_person

    teacher = find_person(args.name, "teacher")  # an unknown class is named as such
    rules = load_rules(args.name)
    changes = {key: value for key, value in {"max_waiting": args.max_waiting, "max_epochs": args.max_epochs,
                                             "max_image_size": args.max_image_size}.items() if value is not None}
    for key in ("strategies", "backbones"):
        if getattr(args, key) is not None:
            changes[key] = tuple(name.strip() for name in getattr(args, key).split(",") if name.strip())
    if changes:
        rules = save_rules(args.name, replace(rules, **changes), teacher)
    return rules


def command_runs(args) -> int:
    from tlcore.runs.store.listing import list_runs
    from tlcore.runs.store.notes import delete_run, rename_run
    from tlcore.runs.store.owners import open_run

    person = person_from_args(args)
    if args.action == "list":
        for run in list_runs(args.runs_dir, person=person):
            print(json.dumps({"run_id": run.run_id, "owner": run.owner, "shared": run.shared, "state": run.state,
                              "name": run.notes.name if run.notes else ""}), flush=True)
        return 0
    folder = open_run(Path(args.run).name, person, args.runs_dir)  # an id, or the run's folder
    if args.action == "delete":
        delete_run(folder.path, args.runs_dir, person=person)
        print(json.dumps({"run_id": folder.path.name, "deleted": True}), flush=True)
    else:
        notes = rename_run(folder.path, args.new_name, person=person)
        print(json.dumps({"run_id": folder.path.name, "name": notes.name}), flush=True)
    return 0
