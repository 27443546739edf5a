"""Bringing a programme in: CSV template, column mapping, dry run, all-or-nothing import.

Upload -> (columns, when the headers differ from the template) -> check (the dry run: every problem by line and
column, or what would be created and updated) -> import (one transaction; the page's script streams progress)
-> summary. The upload stays on the server between steps (tracker/imports/storage.py)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import UTC, datetime

from flask import Response, current_app, flash, redirect, render_template, request, stream_with_context, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from tracker.auth.permissions import actor, requires
from tracker.clinic_zone import clinic_today
from tracker.clinical import refill_risk
from tracker.clinical.import_columns import COLUMNS
from tracker.clinical.import_rows import CheckedFile
from tracker.extensions import db
from tracker.imports import bp
from tracker.imports.csv_file import Table, read_table
from tracker.imports.forms import RunForm, UploadForm, mapping_form
from tracker.imports.storage import MAX_BYTES, AlreadyRunning, Upload, UploadStore, display_name
from tracker.imports.template import guess_mapping, headers_match_exactly, template_csv, unused_headers
from tracker.services import DomainError
from tracker.services.advisories import take_flags
from tracker.services.import_plan import DryRun, dry_run
from tracker.services.import_write import AcknowledgementNeeded, ImportRefused, ImportRun
from tracker.web.forms import render_form

log = logging.getLogger("tracker.imports")
ERRORS_SHOWN = 500  # the rest are counted; a file with thousands of errors is usually one wrong column
NDJSON = "application/x-ndjson"


@bp.record_once
def _limit_upload_size(state) -> None:
    # First of the before-request functions, ahead of CSRF's (which reads the body): a huge upload is refused
    # before anything is spooled to disk.
    def limit():
        if request.blueprint == "imports":
            request.max_content_length = MAX_BYTES + 64 * 1024

    state.app.before_request_funcs.setdefault(None, []).insert(0, limit)


@bp.errorhandler(413)
def _too_large(_error):
    form = UploadForm(formdata=None)
    return render_template("imports/upload.html", form=form, too_large=True, max_mb=MAX_BYTES // 2**20), 413


def _store() -> UploadStore:
    return UploadStore(current_app.instance_path, current_user.id)


def _dry_run(token: str, table: Table, mapping: dict[str, int | None]) -> DryRun:
    """The check page's dry run; a clean one is kept for the import to carry (ImportRun's `checked`)."""
    result = dry_run(db.session, actor(), table, mapping, clinic_today(), _now())
    db.session.rollback()  # a dry run: nothing it loaded stays
    if result.ok:
        _store().keep_check(token, result.checked, _key())
    return result


def _key() -> bytes:
    return current_app.secret_key.encode()


def _job(store: UploadStore, upload_: Upload, acknowledged: bool) -> ImportRun:
    """The import of an upload, carrying what its check page checked when that was kept."""
    table = read_table(upload_.data)
    checked = store.kept_check(upload_.token, _key())
    return ImportRun(
        db.session,
        actor(),
        table,
        upload_.mapping or guess_mapping(table.headers),
        upload_.filename,
        clinic_today(),
        _now(),
        acknowledged=acknowledged,
        checked=checked if isinstance(checked, CheckedFile) else None,
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _expired():
    flash("That upload has expired or was already imported. Upload the file again.", "error")
    return redirect(url_for("imports.upload"))


@bp.route("/", methods=["GET", "POST"])
@requires("patient.import")
def upload():
    form = UploadForm()
    issues = []
    if form.validate_on_submit():
        data = form.file.data.stream.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            return _too_large(None)
        table = read_table(data)
        if table.issues:
            issues = table.issues
        else:
            store = _store()
            token = store.save(data, display_name(form.file.data.filename))
            if headers_match_exactly(table.headers):
                store.set_mapping(token, guess_mapping(table.headers))
                return redirect(url_for("imports.check", token=token))
            return redirect(url_for("imports.columns", token=token))
    return render_form("imports/upload.html", form=form, issues=issues, max_mb=MAX_BYTES // 2**20)


@bp.get("/guide")
@requires("patient.import")
def guide():
    return render_template("imports/guide.html", columns=COLUMNS, max_mb=MAX_BYTES // 2**20)


@bp.get("/template.csv")
@requires("patient.import")
def template():
    # With a BOM, Excel opens the file as UTF-8 (names such as Peña survive).
    body = "\ufeff" + template_csv(clinic_today())
    return Response(
        body.encode("utf-8"),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=patient-import-template.csv"},
    )


@bp.route("/columns", methods=["GET", "POST"])
@requires("patient.import")
def columns():
    token = request.values.get("token", "")
    upload_ = _store().load(token)
    if upload_ is None:
        return _expired()
    table = read_table(upload_.data)
    guesses = upload_.mapping or guess_mapping(table.headers)
    form = mapping_form(table.headers, guesses, request.form if request.method == "POST" else None)
    form.token.data = token
    if form.validate_on_submit():
        _store().set_mapping(token, form.mapping())
        return redirect(url_for("imports.check", token=token))
    samples = {
        str(i): [cells[i] for _line, cells in table.rows[:3] if i < len(cells) and cells[i].strip()]
        for i in range(len(table.headers))
    }
    return render_form("imports/columns.html", form=form, upload=upload_, table=table, columns=COLUMNS, samples=samples)


@bp.get("/check")
@requires("patient.import")
def check():
    token = request.args.get("token", "")
    upload_ = _store().load(token)
    if upload_ is None:
        return _expired()
    table = read_table(upload_.data)
    mapping = upload_.mapping or guess_mapping(table.headers)
    result = _dry_run(token, table, mapping)
    updates = [p for p in result.plans if p.action == "update" or p.notes]
    return render_template(
        "imports/check.html",
        upload=upload_,
        table=table,
        result=result,
        errors=result.issues[:ERRORS_SHOWN],
        warnings=result.warnings,
        late=result.late,
        risk_labels=refill_risk.LABELS,
        updates=updates[:ERRORS_SHOWN],
        new_rows=[p for p in result.plans if p.action == "new"][:10],
        unused=unused_headers(table.headers, mapping),
        run_form=RunForm(token=token),
        reupload_form=UploadForm(formdata=None),
        token=token,
        max_mb=MAX_BYTES // 2**20,
    ), 200 if result.ok else 422


@bp.post("/run")
@requires("patient.import")
def run():
    form = RunForm()
    if not form.validate_on_submit():
        return _expired()
    token = form.token.data
    store = _store()
    upload_ = store.load(token)
    if upload_ is None:
        return _expired()
    job = _job(store, upload_, form.acknowledge.data)
    if NDJSON in request.headers.get("Accept", ""):  # the page's script: progress as it goes
        response = Response(stream_with_context(_stream(job, store, token)), mimetype=NDJSON)
        response.headers["X-Accel-Buffering"] = "no"  # a proxy must pass each line on at once
        return response
    *_progress, outcome = _steps(job, store, token)
    if outcome.get("summary"):
        return redirect(url_for("imports.done", token=token))
    flash(outcome["error"], "error")
    return redirect(url_for("imports.check", token=token) if outcome.get("check") else url_for("imports.upload"))


def _steps(job: ImportRun, store: UploadStore, token: str):
    """Progress dicts while the import runs, then one outcome: the summary, or why nothing was saved."""
    try:
        with store.running(token):
            for progress in job:
                yield {"phase": progress.phase, "done": progress.done, "total": progress.total}
    except AlreadyRunning:
        yield {"error": "This file is already being imported (in another tab?). Wait for it to finish."}
        return
    except ImportRefused as refused:
        yield {"error": f"{refused.message} The check below lists every problem.", "check": True}
        return
    except AcknowledgementNeeded as needed:
        yield {"error": needed.message, "check": True}
        return
    except (IntegrityError, StaleDataError):
        log.warning("import of %s rolled back: a record changed meanwhile", token[:6])
        yield {
            "error": "Someone changed patients while the import ran, so nothing was saved. Check the file "
            "again and re-run the import.",
            "check": True,
        }
        return
    except DomainError as error:
        yield {"error": f"{error.message} Nothing was imported."}
        return
    # Pumps an open device advisory caught (services.advisories.flag_new_pumps): said with the summary, which the
    # streamed page shows (a flash would need a response not yet sent).
    summary = asdict(job.summary) | {"advisory_flags": take_flags(db.session)}
    store.finish(token, summary)
    yield {"summary": summary}


def _stream(job: ImportRun, store: UploadStore, token: str):
    for message in _steps(job, store, token):
        if "summary" in message:
            message = {
                "summary_html": render_template("imports/_summary.html", summary=message["summary"]),
                "done_url": url_for("imports.done", token=token),
            }
        elif message.get("check"):
            message["check_url"] = url_for("imports.check", token=token)
        yield json.dumps(message) + "\n"


@bp.get("/done")
@requires("patient.import")
def done():
    summary = _store().result(request.args.get("token", ""))
    if summary is None:
        flash("There is no finished import to show.", "error")
        return redirect(url_for("imports.upload"))
    return render_template("imports/done.html", summary=summary)
