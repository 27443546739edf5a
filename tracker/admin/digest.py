"""Administration: the daily e-mail's last runs, each recipient's delivery, and resending a dead letter."""

from datetime import date

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm

from tracker.admin import bp
from tracker.auth.permissions import actor, requires
from tracker.extensions import db
from tracker.jobs import scheduler_state
from tracker.models import OutboxMessage
from tracker.models.digest import SENT
from tracker.models.types import utcnow
from tracker.services import digest, digest_delivery, transaction
from tracker.services.audit import record
from tracker.services.mailer import mailer_from_config
from tracker.services.sender import requeue_dead


@bp.get("/digest")
@requires("digest.manage")
def digest_runs():
    mailer = mailer_from_config(current_app.config)
    return render_template(
        "admin/digest.html",
        state=digest.status(db.session, 30),
        today=digest_delivery.today(db.session, current_app.config, utcnow()),
        scheduler=scheduler_state(current_app),
        smtp=mailer.settings.redacted() if mailer else None,
        config=current_app.config,
    )


@bp.get("/digest/<day>")
@requires("digest.manage")
def digest_day(day: str):
    try:
        the_day = date.fromisoformat(day)
    except ValueError:
        abort(404)
    return render_template(
        "admin/digest_day.html",
        day=the_day,
        messages=digest.messages_for(db.session, the_day),
        action_form=FlaskForm(),
    )


@bp.get("/digest/messages/<int:message_id>")
@requires("digest.manage")
def digest_message(message_id: int):
    """One message as it was sent (or waits in the outbox): its text part. The view is audited: it lists MRNs."""
    message = db.session.get(OutboxMessage, message_id) or abort(404)
    with transaction(db.session, "message"):
        record(db.session, actor(), "view", "digest_message", message.id, None)
    return render_template("admin/digest_message.html", message=message, action_form=FlaskForm())


@bp.post("/digest/messages/<int:message_id>/resend")
@requires("digest.manage")
def resend_digest(message_id: int):
    message = db.session.get(OutboxMessage, message_id) or abort(404)
    day = message.digest_day
    if not FlaskForm().validate_on_submit():
        abort(400)
    if not requeue_dead(db.session, message_id, utcnow()):
        flash("Only an undelivered (dead) message can be resent.", "error")
        return redirect(url_for("admin.digest_day", day=day.isoformat()))
    report = digest.send_now(db.session, current_app.config, only_ids=[message_id])
    message = db.session.get(OutboxMessage, message_id, populate_existing=True)
    if report is None:
        flash("Queued again, but no SMTP server is configured (TRACKER_SMTP_URL).", "error")
    elif message.status == SENT:
        flash(f"Sent to {message.to_address}.", "success")
    else:
        flash(f"Queued again; this attempt failed ({message.last_error}). It will be retried.", "error")
    return redirect(url_for("admin.digest_day", day=day.isoformat()))
