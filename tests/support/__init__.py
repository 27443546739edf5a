"""Code the tests share: factories, an in-process SMTP server, the digest worker process."""
