"""The command line's words for people, printed so that a name can never drive the terminal.

A folder name may hold escape codes (clear the screen, print in red) or direction overrides; printed
raw in an error line it would act instead of reading as text. The JSON lines are escaped by their
encoder already; everything else written to stderr passes through here.
"""
from __future__ import annotations

import contextlib
import sys

from tlcore.data.names import escaped


class SpelledOut:
    """A text stream that writes every unseen character spelled out ("\\x1b"), line breaks and tabs aside.

    ``unescaped`` is the stream itself, for the progress bar alone: its carriage return redraws the
    line, and its text is the studio's own (numbers and phase names), never a name from a file.
    """

    def __init__(self, stream):
        self.unescaped = stream

    def write(self, text: str) -> int:
        return self.unescaped.write(escaped(text, keep="\n\t"))

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name):  # flush, fileno, isatty, encoding: the stream's own
        return getattr(self.unescaped, name)


@contextlib.contextmanager
def spelled_out_stderr():
    """sys.stderr spelled out for the duration (the commands print their notes and errors there)."""
    original = sys.stderr
    sys.stderr = SpelledOut(original)
    try:
        yield
    finally:
        sys.stderr = original
