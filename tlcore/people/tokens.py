"""Join tokens: random, shown once in a join link, kept only as a hash; wrong guesses slowed down.

A token has 192 random bits (secrets.token_urlsafe(24)), far past guessing; the roster keeps its
SHA-256 only, so a copy of the studio's files signs no one in. A hash of a random token needs no
salt or slow hash: there is no dictionary of likely tokens to try.
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time

TOKEN_BYTES = 24
FREE_TRIES = 3  # a mistyped link or two is no attack
MAX_DELAY_S = 30.0
FORGET_AFTER_S = 600.0


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class WrongTokenDelay:
    """How long a client waits before its next token is checked: doubling after FREE_TRIES wrong ones.

    Kept in the server's memory per client address. Wrong tries are forgotten FORGET_AFTER_S after the
    last one, never by a right token, so a person's own link cannot clear the guesses between two of its
    uses. Thread-safe: every browser session of the server asks the same one, and a check and its record
    are one step (attempt), so parallel sessions cannot all slip through one free try.
    """

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._wrong: dict[str, tuple[int, float]] = {}  # client -> (wrong tries, when the last was)
        self._lock = threading.Lock()

    def attempt(self, client: str, check):
        """(check()'s answer, 0) when this client may try now, a wrong answer (None) counted; else (None, the
        seconds still to wait), without checking."""
        with self._lock:
            waiting = self._wait_s(client)
            if waiting > 0:
                return None, waiting
            answer = check()
            if answer is None:
                tries, _ = self._wrong.get(client, (0, 0.0))
                self._wrong[client] = (tries + 1, self._clock())
            return answer, 0.0

    def wait_s(self, client: str) -> float:
        """Seconds still to wait before this client's next try is checked (0 when it may try now)."""
        with self._lock:
            return self._wait_s(client)

    def _wait_s(self, client: str) -> float:
        tries, last = self._wrong.get(client, (0, 0.0))
        if tries and self._clock() - last > FORGET_AFTER_S:
            del self._wrong[client]
            return 0.0
        return max(0.0, last + self.delay_after(tries) - self._clock())

    @staticmethod
    def delay_after(tries: int) -> float:
        return 0.0 if tries < FREE_TRIES else min(MAX_DELAY_S, 2.0 ** (tries - FREE_TRIES + 1))
