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

import hashlib
import json
import os
import time

import streamlit as st

from tlcore.people.person import LOCAL, STUDENT, Person, owner_name

CLASS_ENV = "TLSTUDIO_CLASS"
COOKIE = "tlstudio_signin"
PERSON = "signed_in_person"
SIGNIN = "signin_value"  # this tab's sign-in, to end it on sign-out
JOIN = "join"
JOIN_PROBLEM = "join_problem"  # why the last join link or account did not sign this tab in
CHECKED_AT = "signin_checked_at"
RECHECK_AFTER_S = 1.0
PROXY_ENV = "TLSTUDIO_TRUSTED_PROXY"


def class_name() -> str | None:
    """The class this server serves; None in single-user mode."""
    return os.environ.get(CLASS_ENV, "").strip() or None


def current_person() -> Person:
    """The person this tab acts for: LOCAL in single-user mode, else the one signed in (the frame shows
    only the join page until there is one).

    Checked again when the last check is more than a moment old: a button's callback runs before the
    frame's check, and a student removed from the class since must not act through it. Someone no longer
    signed in acts as no one: a person who owns nothing and may change nothing."""
    name = class_name()
    if name is None:
        return LOCAL
    person = st.session_state.get(PERSON)
    if person is not None and time.monotonic() - st.session_state.get(CHECKED_AT, 0.0) > RECHECK_AFTER_S:
        person = _still_signed_in(name)
    return person if person is not None else Person("", STUDENT, name)


def _still_signed_in(name: str) -> Person | None:
    from tlcore.people.signins import signed_in_person

    value = st.session_state.get(SIGNIN)
    still = signed_in_person(name, value) if value else _account_person(name)
    st.session_state[PERSON], st.session_state[CHECKED_AT] = still, time.monotonic()
    return still


def signed_in() -> Person | None:
    """Sign this tab in if it can be (a join link, the browser's sign-in, a school account); the person or None.

    Checked again on every run, so a student removed from the class is signed out at their next click.
    """
    from tlcore.people.signins import signed_in_person

    name = class_name()
    value = st.session_state.get(SIGNIN) or st.context.cookies.get(cookie_name(name))
    person = signed_in_person(name, value) if isinstance(value, str) and value else None
    token = st.query_params.get(JOIN)
    if token and person is not None:  # never switched to another person by a link someone sent
        del st.query_params[JOIN]
        st.toast(f"This browser is signed in as {person.name}. To use another join link, sign out first.")
    elif token:
        value = _join(name, token)
        person = signed_in_person(name, value) if value else None
    if person is not None:
        st.session_state[SIGNIN] = value
    else:
        st.session_state.pop(SIGNIN, None)
        person = _account_person(name)
    st.session_state[PERSON], st.session_state[CHECKED_AT] = person, time.monotonic()
    return person


def _join(name: str, token: str) -> str | None:
    """Check a join link's token (slowed after wrong ones); sign the browser in for its person and return
    the sign-in, kept as a cookie; None, with the reason for the join page, for a wrong or early token."""
    from tlcore.people.roster import person_for_token
    from tlcore.people.signins import max_age_s, sign_in

    del st.query_params[JOIN]  # never left in the address bar, the history or a shared screen
    person, wait_s = wrong_token_delay().attempt(client_address(), lambda: person_for_token(name, token))
    if wait_s > 0:
        st.session_state[JOIN_PROBLEM] = (f"Too many wrong join links from this computer: wait {wait_s:.0f} "
                                          "seconds, then open your link again.")
        return None
    if person is None:
        st.session_state[JOIN_PROBLEM] = ("This join link is not (or no longer) one of this class's. Check it "
                                          "with your teacher.")
        return None
    st.session_state.pop(JOIN_PROBLEM, None)
    value = sign_in(person)
    _set_cookie(name, value, max_age_s(person))
    return value


def client_address() -> str:
    """Who is guessing, for the slow-down: the browser's address; behind a reverse proxy the server trusts
    (TLSTUDIO_TRUSTED_PROXY=1), the address it forwards, else every student would share the proxy's."""
    forwarded = st.context.headers.get("X-Forwarded-For") if os.environ.get(PROXY_ENV) == "1" else None
    return (forwarded or "").split(",")[0].strip() or st.context.ip_address or "unknown"


@st.cache_resource
def wrong_token_delay():
    """One waiting list for the whole server: every session checks tokens against it."""
    from tlcore.people.tokens import WrongTokenDelay

    return WrongTokenDelay()


def _account_person(name: str) -> Person | None:
    """The person a school account signed in through the identity provider is, in this class: by its address,
    when the provider vouches for it (email_verified), and the class names it (tlcore.people.accounts)."""
    if not accounts_configured() or not st.user.is_logged_in:
        return None
    from tlcore.people.accounts import account_person

    address = st.user.get("email") or ""
    if st.user.get("email_verified") is not True:  # an address anyone could have typed into their account
        st.session_state[JOIN_PROBLEM] = (f"Your school's sign-in did not confirm the address {address}, so it "
                                          "cannot sign you in to this class. Sign out and use your join link.")
        return None
    person = account_person(name, address)
    if person is None:
        st.session_state[JOIN_PROBLEM] = (f"The account {address} is not in class {name}. Ask your teacher to add "
                                          "it, or sign out and use your join link.")
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
    _set_cookie(class_name(), "", max_age=0)
    if accounts_configured() and st.user.is_logged_in:
        st.logout()


def _forget() -> None:
    for key in (SIGNIN, PERSON, CHECKED_AT):
        st.session_state.pop(key, None)


def cookie_name(name: str) -> str:
    """The sign-in's cookie, one per class: two class servers on one host keep theirs apart."""
    return f"{COOKIE}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _set_cookie(name: str, value: str, max_age: int) -> None:
    """Keep the sign-in in this browser: read by the server from every new session's first request.

    Written by the page, as Streamlit gives a script no response to set headers on, so it cannot be
    HttpOnly; it holds a sign-in of its own, never the join token, and the server can end it."""
    cookie = f"{cookie_name(name)}={value}; path=/; max-age={max_age}; SameSite=Strict"
    st.html(f"<script>document.cookie = {json.dumps(cookie)} + (location.protocol === 'https:' ? '; Secure' : '');"
            "</script>", unsafe_allow_javascript=True, width="content")


def owner_words(key: str) -> str:
    """Whose a thing is, for the teacher's eyes and a shared thing's: "by alice"."""
    return f"by {owner_name(key)}"
