"""Sign-in limits that slow password guessing without ever locking the clinic out.

Only wrong passwords count; a correct sign-in never does (a clinic behind one address signs in all day). Three
counts, each forgotten after LOGIN_FAILURE_MEMORY_MINUTES without a failure:

- this account from this address (or from this browser, once it has signed in to the account): the first
  LOGIN_FREE_FAILURES cost nothing, then each failure doubles the wait before the next try (1 s, 2 s, 4 s ...
  up to LOGIN_MAX_DELAY_SECONDS). A correct password clears it;
- this account from anywhere, past LOGIN_ACCOUNT_FREE_FAILURES;
- this address, any account, past LOGIN_ADDRESS_FREE_FAILURES.

The last two slow only browsers that have never signed in to the account: someone who knows a nurse's e-mail can
slow their own guesses, not the nurse at her usual workstation. A try that must wait is refused before the
password is checked, with the seconds left.

An account is *locked*, for the administrator's users page, while one of its own counts (a browser's, an
address's, or the account-wide one) is past its free failures: some browser must wait before it may try again.
A "locked" mark per account records this, forgotten with the counts; a correct sign-in clears it unless strangers
still hold the account-wide count past its free failures. Unlocking starts the account's counts afresh: every key
of an account carries its unlock generation, so the counts made before (from addresses and browsers that cannot be
listed: the keys are hashes) are left behind to expire, and the user signs in at once from anywhere. The address's
own count (any account) is not the account's and stays.

The counts live in the store TRACKER_RATELIMIT_STORAGE_URI names: redis://host:6379/0 is shared by every worker
and server (production); memory:// by one process only (`make run`). Keys are keyed hashes: the store holds no
e-mail or address. If Redis cannot be reached, sign-in goes on unthrottled and the error is logged: a broken
counter must not lock the clinic out."""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import threading
from dataclasses import dataclass

log = logging.getLogger("tracker.auth")


def wait_seconds(failures: int, free: int, max_seconds: int) -> int:
    """The wait after `failures` failures when `free` cost nothing: 0, then 1, 2, 4 ... capped. Example: free 3,
    max 300: 3 failures -> 0 s; 4 -> 1 s; 6 -> 4 s (2^(6-3-1)); 12 -> 256 s; 13 -> 300 s (2^9 = 512, capped)."""
    extra = failures - free
    return 0 if extra <= 0 else min(2 ** min(extra - 1, 30), max_seconds)


@dataclass(frozen=True)
class Rules:
    free_per_pair: int
    free_per_account: int
    free_per_address: int
    max_delay_seconds: int
    memory_seconds: int

    @classmethod
    def from_config(cls, config) -> Rules:
        return cls(
            config["LOGIN_FREE_FAILURES"],
            config["LOGIN_ACCOUNT_FREE_FAILURES"],
            config["LOGIN_ADDRESS_FREE_FAILURES"],
            config["LOGIN_MAX_DELAY_SECONDS"],
            config["LOGIN_FAILURE_MEMORY_MINUTES"] * 60,
        )


@dataclass(frozen=True)
class Attempt:
    """Who is trying: the e-mail as typed (normalised), the client address, this browser's id, and whether this
    browser has signed in to that account before."""

    email: str
    address: str
    browser_id: str
    known: bool


class MemoryStore:
    """Failure counts in this process (one worker): `make run` and tests."""

    errors: tuple[type[Exception], ...] = ()

    def __init__(self):
        self._lock = threading.Lock()
        self._rows: dict[str, tuple[int, float, float]] = {}  # key -> (failures, last at, forgotten at)
        self._generations: dict[str, int] = {}  # one per account ever unlocked: a handful

    def read(self, keys: list[str], now: float) -> list[tuple[int, float]]:
        with self._lock:
            rows = [self._rows.get(key) for key in keys]
        return [(row[0], row[1]) if row and row[2] > now else (0, 0.0) for row in rows]

    def add_failure(self, keys: list[str], now: float, keep_seconds: int) -> list[int]:
        """Count one failure on each key; returns the counts now."""
        with self._lock:
            if len(self._rows) > 100_000:  # a spray of made-up e-mails must not grow memory without end
                self._rows = {k: v for k, v in self._rows.items() if v[2] > now}
            for key in keys:
                failures, _, forgotten_at = self._rows.get(key, (0, 0.0, 0.0))
                self._rows[key] = ((failures if forgotten_at > now else 0) + 1, now, now + keep_seconds)
            return [self._rows[key][0] for key in keys]

    def forget(self, key: str) -> None:
        with self._lock:
            self._rows.pop(key, None)

    def generations(self, keys: list[str]) -> list[int]:
        with self._lock:
            return [self._generations.get(key, 0) for key in keys]

    def next_generation(self, key: str) -> None:
        with self._lock:
            self._generations[key] = self._generations.get(key, 0) + 1


class RedisStore:
    """Failure counts in Redis, one hash per key (failures, last failure time), expiring when forgotten: every
    worker and every server sees the same counts."""

    def __init__(self, uri: str):
        import redis

        self.errors = (redis.RedisError,)
        self._redis = redis.Redis.from_url(uri, socket_timeout=2, socket_connect_timeout=2)

    def read(self, keys: list[str], now: float) -> list[tuple[int, float]]:
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(key, "n", "at")
        return [(int(n or 0), float(at or 0)) for n, at in pipe.execute()]

    def add_failure(self, keys: list[str], now: float, keep_seconds: int) -> list[int]:
        """Count one failure on each key; returns the counts now."""
        pipe = self._redis.pipeline(transaction=True)
        for key in keys:
            pipe.hincrby(key, "n", 1)
            pipe.hset(key, "at", repr(now))
            pipe.expire(key, keep_seconds)
        return [int(n) for n in pipe.execute()[::3]]

    def forget(self, key: str) -> None:
        self._redis.delete(key)

    def generations(self, keys: list[str]) -> list[int]:
        return [int(value or 0) for value in self._redis.mget(keys)] if keys else []

    def next_generation(self, key: str) -> None:
        # No expiry: an account's counts from before an unlock must never come back into use.
        self._redis.incr(key)


def store_from_uri(uri: str) -> MemoryStore | RedisStore:
    if uri.startswith("memory://"):
        return MemoryStore()
    if uri.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(uri)
    raise RuntimeError(f"TRACKER_RATELIMIT_STORAGE_URI must be memory:// or redis://..., not {uri.split(':')[0]}")


class SignInLimits:
    """The three counts for one app: `wait` before checking a password, `failed` or `succeeded` after; `locked`
    and `unlock` for the administrator."""

    def __init__(self, store, secret: str, rules: Rules, prefix: str = "tracker:signin:"):
        self.store, self.rules, self.prefix = store, rules, prefix
        self._secret = secret.encode()

    def _key(self, *parts: str) -> str:
        digest = hmac.new(self._secret, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()[:40]
        return self.prefix + digest

    @staticmethod
    def _account(email: str, generation: int) -> str:
        """The account as its keys name it: the e-mail, and after an unlock its generation too."""
        return email if generation == 0 else f"{email}\x1e{generation}"

    def _generation(self, email: str) -> int:
        return self.store.generations([self._key("generation", email)])[0]

    def _own_counts(self, attempt: Attempt, generation: int = 0) -> list[tuple[str, int]]:
        """(key, free failures) for the account's own counts that apply: this browser's, or this address's and
        the account-wide one; the pair first."""
        account = self._account(attempt.email, generation)
        if attempt.known:
            return [(self._key("browser", account, attempt.browser_id), self.rules.free_per_pair)]
        return [
            (self._key("pair", account, attempt.address), self.rules.free_per_pair),
            (self._key("account", account), self.rules.free_per_account),
        ]

    def _counts(self, attempt: Attempt, generation: int = 0) -> list[tuple[str, int]]:
        """(key, free failures) for each count that applies to this attempt; the account's own pair first."""
        if attempt.known:
            return self._own_counts(attempt, generation)
        return [
            *self._own_counts(attempt, generation),
            (self._key("address", attempt.address), self.rules.free_per_address),
        ]

    def wait(self, attempt: Attempt, now: float) -> int:
        """Seconds this attempt must still wait (0: go ahead and check the password)."""
        try:
            counts = self._counts(attempt, self._generation(attempt.email))
            rows = self.store.read([key for key, _ in counts], now)
        except self.store.errors:  # fail open, see the module docstring
            log.exception("sign-in limits: the failure store cannot be read; sign-in is not throttled")
            return 0
        waits = [
            last_at + wait_seconds(failures, free, self.rules.max_delay_seconds) - now
            for (failures, last_at), (_, free) in zip(rows, counts, strict=True)
            if failures
        ]
        return max([0, *(math.ceil(w) for w in waits)])

    def failed(self, attempt: Attempt, now: float) -> None:
        try:
            generation = self._generation(attempt.email)
            counts = self._counts(attempt, generation)
            totals = self.store.add_failure([key for key, _ in counts], now, self.rules.memory_seconds)
            own = self._own_counts(attempt, generation)
            if any(total > free for total, (_, free) in zip(totals[: len(own)], own, strict=True)):
                locked = self._key("locked", self._account(attempt.email, generation))
                self.store.add_failure([locked], now, self.rules.memory_seconds)
        except self.store.errors:
            log.exception("sign-in limits: a failure could not be counted")

    def succeeded(self, attempt: Attempt, now: float) -> None:
        """A correct password clears its own pair's count (the account's and address's fade with time), and the
        account's "locked" mark unless the account-wide count is still past its free failures."""
        try:
            generation = self._generation(attempt.email)
            self.store.forget(self._own_counts(attempt, generation)[0][0])
            account = self._account(attempt.email, generation)
            (marks, _), (failures, _) = self.store.read(
                [self._key("locked", account), self._key("account", account)], now
            )
            if marks and failures <= self.rules.free_per_account:
                self.store.forget(self._key("locked", account))
        except self.store.errors:
            log.exception("sign-in limits: a count could not be cleared")

    def locked(self, emails: list[str], now: float) -> dict[str, float]:
        """Which of these e-mails (lower case) are locked, each with the time its mark is forgotten unless it is
        unlocked or more failures come. Nothing, and the error logged, when the store cannot be read."""
        emails = list(dict.fromkeys(emails))
        try:
            generations = self.store.generations([self._key("generation", email) for email in emails])
            rows = self.store.read(
                [
                    self._key("locked", self._account(email, generation))
                    for email, generation in zip(emails, generations, strict=True)
                ],
                now,
            )
        except self.store.errors:
            log.exception("sign-in limits: the failure store cannot be read; no account shown as locked")
            return {}
        return {
            email: last_at + self.rules.memory_seconds
            for email, (marks, last_at) in zip(emails, rows, strict=True)
            if marks
        }

    def unlock(self, email: str) -> bool:
        """Start the account's counts afresh (see the module docstring); False when the store cannot be reached."""
        try:
            self.store.next_generation(self._key("generation", email))
        except self.store.errors:
            log.exception("sign-in limits: an account could not be unlocked")
            return False
        return True
