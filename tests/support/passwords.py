"""argon2id at its cheapest for the suite's thousands of sign-ins.

The app hashes with argon2-cffi's recommended parameters (64 MiB, 3 passes, 4 lanes: tracker/services/accounts.py),
which is meant to cost about half a second on this machine, and every `as_role` and `client.login` pays it once. The
suite signs in over two thousand times, so `cheapen()` swaps in the same algorithm at the lowest cost before any
test runs (the usual trade: Django's own test settings use a fast hasher). What is tested is who may sign in, not
argon2's price: tests/test_password_hashing.py checks, with the app's own hasher put back, that new and old hashes
end up at the recommended parameters."""

from __future__ import annotations

from argon2 import PasswordHasher

from tracker.services import accounts

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PRODUCTION = accounts._hasher  # the app's own, as imported: the one tests/test_password_hashing.py puts back


def cheapen() -> None:
    """Hash and verify at the cheapest cost, unknown e-mails included (their dummy hash sets their cost)."""
    accounts._hasher = CHEAP
    accounts._DUMMY_HASH = CHEAP.hash("not-a-real-password-for-timing")
