"""School accounts: who may sign in through the school's identity provider, and as whom.

    <studio home>/classes/<class>/accounts.json   {"teachers": [emails], "students": [emails or "@domain"]}

Where a school runs the studio behind https with an identity provider (Streamlit's `st.login`, OpenID
Connect), the provider says who a person is and this file says what they are in the class: the teacher
names the teachers' accounts, and which accounts are students (whole addresses, or every address
of a domain). An account named in neither is refused. A person signed in by account is known by their
address; their things record it as owner, as a join link's person is known by their name.
"""
from __future__ import annotations

from tlcore.errors import InputError
from tlcore.jsonio import read_json, write_json_atomic
from tlcore.people.person import LOCAL, STUDENT, TEACHER, Person
from tlcore.people.roster import classes_dir, load_roster, member_person, roster_or_none

ACCOUNTS = "accounts.json"
MAX_ADDRESS_CHARS = 254


def check_address(text: str, domain_allowed: bool = False) -> str:
    """An email address (or "@domain" where allowed), lower-cased; InputError in words otherwise."""
    address = text.strip().lower()
    local, at, domain = address.rpartition("@")
    usable = (at and "." in domain and len(address) <= MAX_ADDRESS_CHARS and (local or domain_allowed)
              and all(c.isalnum() or c in ".-_+'" for c in local + domain))
    if not usable:
        what = "an email address or @domain" if domain_allowed else "an email address"
        raise InputError(f"'{text}' is not {what}.")
    return address


def load_accounts(class_name: str) -> dict[str, list[str]]:
    """{"teachers": [...], "students": [...]}; a missing or damaged file names no one."""
    raw = read_json(classes_dir() / class_name / ACCOUNTS, default=None)
    accounts = {"teachers": [], "students": []}
    if isinstance(raw, dict):
        for group in accounts:
            values = raw.get(group)
            if isinstance(values, list):
                accounts[group] = [v for v in values if isinstance(v, str)]
    return accounts


def set_accounts(class_name: str, teachers: list[str] | None = None, students: list[str] | None = None) -> dict:
    """Name the teachers' accounts and the students' (addresses or @domains); None keeps a group as it is."""
    roster = load_roster(class_name)
    accounts = load_accounts(roster["name"])
    if teachers is not None:
        accounts["teachers"] = sorted({check_address(a) for a in teachers if a.strip()})
    if students is not None:
        accounts["students"] = sorted({check_address(a, domain_allowed=True) for a in students if a.strip()})
    write_json_atomic(classes_dir() / roster["name"] / ACCOUNTS, accounts)
    return accounts


def account_person(class_name: str, email: str | None) -> Person | None:
    """The person a signed-in account is in this class; None when the teacher named it nowhere."""
    try:
        address = check_address(email or "")
    except InputError:
        return None
    accounts = load_accounts(class_name)
    if address in accounts["teachers"]:
        return Person(address, TEACHER, class_name)
    domain = "@" + address.rpartition("@")[2]
    if address in accounts["students"] or domain in accounts["students"]:
        return Person(address, STUDENT, class_name)
    return None


def person_from_key(key: str) -> Person:
    """Who owns a thing, from the key it records: a member or account with their role now, LOCAL's key
    as LOCAL; anyone no longer in the class is a student of it (their things stay the teacher's to manage)."""
    class_name, _, name = key.rpartition("/")
    if not class_name:
        return LOCAL if key == LOCAL.key else Person(key)
    roster = roster_or_none(class_name)
    found = member_person(roster, name) or account_person(class_name, name) if roster is not None else None
    return found or Person(name, STUDENT, class_name)
