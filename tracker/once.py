"""Store a form once: every form that writes patient data carries a one-time key (OnceForm), claimed in the
same transaction as the write (once()). A double click, a browser retry or ten identical posts racing store one
record; the others are sent where the first one went, with a message saying so."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, flash, g, redirect, request
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from wtforms import HiddenField

from tracker.extensions import db
from tracker.models import FormSubmission
from tracker.services import transaction

KEEP_DAYS = 2  # a retry comes within minutes; older keys are purged by the daily maintenance job


class AlreadySaved(Exception):
    def __init__(self, result_url: str):
        super().__init__("This form was already saved.")
        self.result_url = result_url


class OnceForm(FlaskForm):
    """A form whose post must be stored once. The key is new on every page load and kept across an error
    re-render (nothing was stored then), so correcting a field and saving again still works."""

    submission_key = HiddenField(default=lambda: secrets.token_urlsafe(24))


def _taken(key: str) -> FormSubmission | None:
    return db.session.scalar(select(FormSubmission).where(FormSubmission.key == key))


@contextmanager
def once(form: FlaskForm) -> Iterator[None]:
    """Claim the form's key, then run the write. The key row is flushed first, so a racing post with the same key
    waits on it and then finds it taken; a refused write rolls back and frees the key for the corrected post."""
    field = getattr(form, "submission_key", None)
    key = (field.raw_data[0] if field is not None and field.raw_data else "").strip()[:64]  # as posted, not a default
    if not key:  # a post without a key (an old page, a script) is stored as before
        yield
        return
    try:
        if (done := _taken(key)) is not None:
            raise AlreadySaved(done.result_url)
        db.session.add(FormSubmission(key=key, user_id=current_user.id))
        db.session.flush()
    except IntegrityError:
        db.session.rollback()  # before the write began: frees the session to read who claimed the key first
        raise AlreadySaved(getattr(_taken(key), "result_url", "")) from None
    g.submission_key = key
    yield


def register(app: Flask) -> None:
    @app.errorhandler(AlreadySaved)
    def already_saved(error: AlreadySaved):
        flash("This form was already saved (a second click or a retry); it was stored once.", "info")
        return redirect(error.result_url or request.path, 303)

    @app.after_request
    def remember_result(response):
        """Where the first post led (its redirect), so a repeat post lands on the same page."""
        key = g.pop("submission_key", None)
        if key and response.status_code in (301, 302, 303) and response.location:
            with transaction(db.session, "form"):
                row = db.session.get(FormSubmission, key)
                if row is not None and not row.result_url:
                    row.result_url = response.location[:2000]
        return response
