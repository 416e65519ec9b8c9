"""Join the class: the only page of a class server before sign-in. It shows nothing of anyone's work."""
import streamlit as st

from ui.people import JOIN_PROBLEM, accounts_configured, class_name

st.title("Transfer Learning Studio")
st.subheader(f"Class {class_name()}")
problem = st.session_state.get(JOIN_PROBLEM)
if problem:
    st.error(problem)
st.markdown("Open the **join link** your teacher gave you, or scan the **QR code** on your join card: it signs "
            "this browser in, and it stays signed in when you reload or open a new tab.")
if accounts_configured() and st.user.is_logged_in:  # an account this class does not take: the way back out
    st.button("Sign out of the school account", icon=":material/logout:", on_click=st.logout)
elif accounts_configured():
    st.markdown("Or, with a school account:")
    if st.button("Sign in with your school account", type="primary", icon=":material/badge:"):
        st.login()
st.caption("Teachers: make the class and its join cards with `python -m tlcore class create`; see the README.")
