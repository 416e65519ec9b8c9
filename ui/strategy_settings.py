"""The chosen strategy's own settings on the Train page, drawn from its registry entry (numbers, and
yes-or-no settings as a checkbox)."""
import streamlit as st

from tlcore.training.strategies import StrategySpec
from ui.glossary import label


def strategy_settings_ui(strategy: StrategySpec) -> dict:
    """The chosen strategy's own settings, as its registry entry describes them."""
    options = {}
    for setting in strategy.settings:
        if setting.integer and (setting.low, setting.high) == (0, 1):  # a yes-or-no: recorded when not the default
            on = st.checkbox(label(setting.title, setting.term), value=bool(setting.default),
                             help=setting.help.replace("1: ", "On: ").replace(" 0: ", " Off: "),
                             key=f"{strategy.name}_{setting.key}")
            if on != bool(setting.default):
                options[setting.key] = int(on)
            continue
        if setting.integer:
            options[setting.key] = st.number_input(
                label(setting.title, setting.term), min_value=int(setting.low), max_value=int(setting.high),
                value=int(setting.default), step=1, help=setting.help, key=f"{strategy.name}_{setting.key}")
            continue
        options[setting.key] = st.number_input(
            label(setting.title, setting.term), min_value=float(setting.low), max_value=float(setting.high),
            value=float(setting.default), step=setting.default / 10 or 0.01, format="%g", help=setting.help,
            key=f"{strategy.name}_{setting.key}")
    return options
