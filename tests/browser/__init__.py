"""The whole product in a real browser (Playwright, Debian's Chromium), used the way a person uses it."""
