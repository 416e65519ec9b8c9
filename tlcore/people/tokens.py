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


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class WrongTokenDelay:
    """How long a client waits before its next token is checked: doubling after FREE_TRIES wrong ones.

    Kept in the server's memory per client address; a right token clears it. Thread-safe: every
    browser session of the server asks the same one.
    """

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._wrong: dict[str, tuple[int, float]] = {}  # client -> (wrong tries, when the last was)
        self._lock = threading.Lock()

    def wait_s(self, client: str) -> float:
        """Seconds still to wait before this client's next try is checked (0 when it may try now)."""
        with self._lock:
            tries, last = self._wrong.get(client, (0, 0.0))
        return max(0.0, last + self.delay_after(tries) - self._clock())

    def record(self, client: str, right: bool) -> None:
        with self._lock:
            if right:
                self._wrong.pop(client, None)
            else:
                tries, _ = self._wrong.get(client, (0, 0.0))
                self._wrong[client] = (tries + 1, self._clock())

    @staticmethod
    def delay_after(tries: int) -> float:
        return 0.0 if tries < FREE_TRIES else min(MAX_DELAY_S, 2.0 ** (tries - FREE_TRIES + 1))
