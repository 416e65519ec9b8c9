"""The pages on a narrow screen (a phone, 390 px wide): what only the words' lengths decide."""
from apptest_support import home, open_app  # noqa: F401 (fixtures)

# Measured in Chromium: a tab's label takes at most 6.6 px a letter, with 16 px between tabs, and a 390 px
# window leaves the tabs 358 px. Past that the last tabs sit out of sight, behind a sideways scroll.
PX_PER_LETTER, GAP_PX, PHONE_TABS_PX = 6.6, 16, 358


def test_the_data_pages_tabs_fit_a_phone(home):
    at = open_app("app_pages/data.py")
    labels = [tab.label for tab in at.tabs]
    assert len(labels) == 5
    assert sum(len(label) for label in labels) * PX_PER_LETTER + GAP_PX * (len(labels) - 1) <= PHONE_TABS_PX, labels
