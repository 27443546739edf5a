"""Code the tests share: factories, the pinned clock, an in-process SMTP server, the digest worker process, and
what keeps the per-test cost down (passwords.py: argon2 at its cheapest; snapshot.py: world's rows copied back)."""
