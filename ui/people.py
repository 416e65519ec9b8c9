"""Who is using this browser tab: the one local person, or (on a class server) the person signed in.

A class server (`./studio run --class NAME`, which sets TLSTUDIO_CLASS) shows nothing but the join page
until the tab is signed in, three ways:
- a join link (`/?join=TOKEN`): the token is checked once, then dropped from the address, and the
  browser keeps a sign-in of its own as a cookie, so a reload or a new tab is signed in without it;
- that cookie, on every new session;
- a school account through the identity provider (`st.login`, where the server's secrets configure
  one): the provider says who, the class's accounts say as what (tlcore.people.accounts).
Every page then acts for current_person(), and the engine refuses what that person may not do.
"""
from __future__ import annotations

import json
import os

import streamlit as st

from tlcore.people.person import LOCAL, Person

CLASS_ENV = "TLSTUDIO_CLASS"
COOKIE = "tlstudio_signin"
PERSON = "signed_in_person"
SIGNIN = "signin_value"  # this tab's sign-in, to end it on sign-out
JOIN = "join"
JOIN_PROBLEM = "join_problem"  # why the last join link or account did not sign this tab in


def class_name() -> str | None:
    """The class this server serves; None in single-user mode."""
    return os.environ.get(CLASS_ENV, "").strip() or None


def current_person() -> Person:
    """The person this tab acts for: LOCAL in single-user mode, else the one signed in (the frame shows
    only the join page until there is one)."""
    if class_name() is None:
        return LOCAL
    person = st.session_state.get(PERSON)
    if person is None:
        raise RuntimeError("No one is signed in on this tab; the join page should have been shown.")
    return person


def signed_in() -> Person | None:
    """Sign this tab in if it can be (a join link, the browser's sign-in, a school account); the person or None.

    Checked again on every run, so a student removed from the class is signed out at their next click.
    """
    from tlcore.people.signins import signed_in_person

    name = class_name()
    token = st.query_params.get(JOIN)  # a link opened in a signed-in tab signs it in as the link's person
    value = (_join(name, token) if token else None) or st.session_state.get(SIGNIN) or st.context.cookies.get(COOKIE)
    person = signed_in_person(name, value) if isinstance(value, str) and value else None
    if person is not None:
        st.session_state[SIGNIN] = value
    else:
        st.session_state.pop(SIGNIN, None)
        person = _account_person(name)
    st.session_state[PERSON] = person
    return person


def _join(name: str, token: str) -> str | None:
    """Check a join link's token (slowed after wrong ones); sign the browser in for its person and return
    the sign-in, kept as a cookie; None, with the reason for the join page, for a wrong or early token."""
    from tlcore.people.roster import person_for_token
    from tlcore.people.signins import sign_in

    del st.query_params[JOIN]  # never left in the address bar, the history or a shared screen
    delay, client = wrong_token_delay(), st.context.ip_address or "unknown"
    if delay.wait_s(client) > 0:
        st.session_state[JOIN_PROBLEM] = (f"Too many wrong join links from this computer: wait "
                                          f"{delay.wait_s(client):.0f} seconds, then open your link again.")
        return None
    person = person_for_token(name, token)
    delay.record(client, right=person is not None)
    if person is None:
        st.session_state[JOIN_PROBLEM] = ("This join link is not (or no longer) one of this class's. Check it "
                                          "with your teacher.")
        return None
    st.session_state.pop(JOIN_PROBLEM, None)
    value = sign_in(person)
    _set_cookie(value)
    return value


@st.cache_resource
def wrong_token_delay():
    """One waiting list for the whole server: every session checks tokens against it."""
    from tlcore.people.tokens import WrongTokenDelay

    return WrongTokenDelay()


def _account_person(name: str) -> Person | None:
    """The person a school account signed in through the identity provider is, in this class."""
    if not accounts_configured() or not st.user.is_logged_in:
        return None
    from tlcore.people.accounts import account_person

    person = account_person(name, st.user.get("email"))
    if person is None:
        st.session_state[JOIN_PROBLEM] = (f"The account {st.user.get('email') or ''} is not in class {name}. "
                                          "Ask your teacher to add it, or sign out and use your join link.")
    return person


def accounts_configured() -> bool:
    """Whether the server's secrets name an identity provider (an [auth] section) for st.login."""
    return st.secrets.load_if_toml_exists() and "auth" in st.secrets  # no secrets file: False, not an error


def sign_out() -> None:
    """End this browser's sign-in (the link or card signs it in again) and, for a school account, the
    provider's session with the studio."""
    from tlcore.people.signins import sign_out as end_signin

    value = st.session_state.get(SIGNIN)
    if value is not None:
        end_signin(class_name(), value)
    _forget()
    _set_cookie("", max_age=0)
    if accounts_configured() and st.user.is_logged_in:
        st.logout()


def _forget() -> None:
    for key in (SIGNIN, PERSON):
        st.session_state.pop(key, None)


def _set_cookie(value: str, max_age: int | None = None) -> None:
    """Keep the sign-in in this browser: read by the server from every new session's first request."""
    from tlcore.people.signins import MAX_AGE_S

    age = MAX_AGE_S if max_age is None else max_age
    cookie = f"{COOKIE}={value}; path=/; max-age={age}; SameSite=Strict"
    st.html(f"<script>document.cookie = {json.dumps(cookie)} + (location.protocol === 'https:' ? '; Secure' : '');"
            "</script>", unsafe_allow_javascript=True, width="content")


def owner_words(key: str) -> str:
    """Whose a thing is, for the teacher's eyes and a shared thing's: "by alice"."""
    return f"by {key.rpartition('/')[2]}"
