"""The teacher's rules for a lesson, as a form: what students may choose, and how much they may queue."""
from dataclasses import replace

import streamlit as st

from tlcore.people.class_rules import load_rules, save_rules
from ui import format as fmt
from ui.people import current_person

NO_LIMIT = 0


def rules_form_ui(class_name: str) -> None:
    """The class's rules, changed and saved in one form; the engine refuses a student's run past them."""
    from tlcore.models.backbones import list_backbones
    from tlcore.training.strategies import list_strategies

    st.header("Rules for this lesson")
    st.caption("Students see a refusal in words when a run breaks one of these; your own runs are not limited.")
    rules = load_rules(class_name)
    with st.form("class_rules", border=False):
        left, right = st.columns(2)
        waiting = left.number_input("Runs a student may have waiting", 1, 100, rules.max_waiting, key="rule_waiting")
        upload = right.number_input("Disk for a student's uploads, MB (0: no limit)", 0, 100_000,
                                    rules.max_upload_mb or NO_LIMIT, key="rule_upload")
        epochs = left.number_input("Most rounds (epochs) per run (0: no limit)", 0, 1000, rules.max_epochs or NO_LIMIT,
                                   key="rule_epochs")
        size = right.number_input("Largest picture size, pixels (0: no limit)", 0, 512,
                                  rules.max_image_size or NO_LIMIT, key="rule_size")
        strategies = st.multiselect("Ways of training allowed (none chosen: all)", [s.name for s in list_strategies()],
                                    default=list(rules.strategies), format_func=fmt.strategy_words,
                                    key="rule_strategies")
        backbones = st.multiselect("Networks allowed (none chosen: all)", [s.name for s in list_backbones()],
                                   default=list(rules.backbones), format_func=fmt.backbone_words,
                                   key="rule_backbones")
        if st.form_submit_button("Save the rules", icon=":material/rule:"):
            save_rules(class_name, replace(rules, max_waiting=int(waiting), max_upload_mb=int(upload) or None,
                                           max_epochs=int(epochs) or None, max_image_size=int(size) or None,
                                           strategies=tuple(strategies), backbones=tuple(backbones)),
                       current_person())
            st.toast("The class's rules are saved.")
