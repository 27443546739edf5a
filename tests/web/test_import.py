"""Importing patients from CSV (issue #9): upload, column matching, the dry run's errors by line and column,
the all-or-nothing import with its progress stream, idempotent re-import, and encodings."""

from __future__ import annotations

import csv
import html as html_module
import io
import json
import re
import time
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from tests.support.factories import TODAY, implanted_days_ago
from tests.web.test_fuzz_forms import row_counts
from tracker.clinical.import_columns import COLUMNS
from tracker.models import (
    AuditEvent,
    DoseChange,
    Patient,
    Pump,
    RefillAppointment,
    RefillSchedule,
    RefillVisit,
    StageEvent,
)
from tracker.services import import_write
from tracker.services.refills import recompute_schedule, schedule_violations

HEADER = [c.name for c in COLUMNS]


def row(n: int = 1, **overrides) -> dict:
    """A valid adjustment patient: 40 mL pump, 2000 mcg/mL, 400 mcg/day (due by the 180-day limit)."""
    data = {
        "mrn": f"IMP{n:06d}",
        "first_name": "Rosa",
        "last_name": f"Peña{n}",
        "date_of_birth": "1968-04-12",
        "sex": "female",
        "diagnosis": "ms",
        "spasticity_origin": "spinal",
        "location": "Kennesaw Clinic",
        "primary_nurse_email": "nurse@example.org",
        "phone": "(770) 555-0199",
        "withdrawal_risk": "no",
        "withdrawal_risk_reason": "",
        "referral_date": "2019-02-01",
        "stage": "adjustment",
        "stage_since": "2019-05-21",
        "pump_model": "SynchroMed II 40 mL",
        "pump_serial": f"NGP{n:06d}",
        "implanted_on": "2019-05-20",
        "surgery_centre": "Snellville Surgery Center",
        "surgeon": "Dr Shaw",
        "catheter_tip_level": "T10",
        "alarm_volume_ml": "2",
        "last_refill_date": (TODAY - timedelta(days=30)).isoformat(),
        "last_refill_volume_ml": "40",
        "concentration_mcg_per_ml": "2000",
        "daily_dose_mcg": "400",
        "next_refill_date": (TODAY + timedelta(days=60)).strftime("%m/%d/%Y"),
        "next_refill_time": "10:30",
        "next_refill_late_reason": "",
    }
    data.update(overrides)
    return data


def evaluation_row(n: int, **overrides) -> dict:
    data = row(n, stage="evaluation", stage_since="", **{k: "" for k in HEADER[15:]})
    data.update(overrides)
    return data


def csv_bytes(
    rows: list[dict], header: list[str] | None = None, encoding: str = "utf-8", delimiter: str = ","
) -> bytes:
    header = header or HEADER
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for r in rows:
        writer.writerow([r.get(h, r.get(_template_name(h), "")) for h in header])
    return out.getvalue().encode(encoding)


def _template_name(header: str) -> str:
    return {
        "Medical record number": "mrn",
        "DOB": "date_of_birth",
        "Surname": "last_name",
        "First name": "first_name",
    }.get(header, header)


def upload(client, data: bytes, filename: str = "patients.csv"):
    return client.post("/import/", {"file": (io.BytesIO(data), filename)}, content_type="multipart/form-data")


def token_of(response) -> str:
    return re.search(r"token=([A-Za-z0-9_-]+)", response.headers["Location"]).group(1)


def check(client, data: bytes, filename: str = "patients.csv"):
    """Upload a file whose headers match the template; return (token, check page response)."""
    response = upload(client, data, filename)
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    assert "/import/check" in response.headers["Location"]
    token = token_of(response)
    return token, client.get(f"/import/check?token={token}")


def run(client, token: str, stream: bool = False):
    headers = {"Accept": "application/x-ndjson"} if stream else {}
    return client.post("/import/run", {"token": token}, headers=headers)


def issues(page) -> list[tuple[str, str, str, str]]:
    """(line, column, value, message) rows of the check page's problem table."""
    html = page.get_data(as_text=True)
    body = html.split('<table class="striped issues">', 1)[1].split("</table>", 1)[0]
    cells = re.findall(
        r"<tr>\s*<td class=\"num\">(.*?)</td>\s*<td>(.*?)</td>\s*<td class=\"mono value\">(.*?)</td>"
        r"\s*<td>(.*?)</td>",
        body,
        re.S,
    )
    return [tuple(html_module.unescape(c.strip()) for c in cell) for cell in cells]


@pytest.fixture(autouse=True)
def uploads_in_tmp(app, tmp_path, monkeypatch):
    """Uploads are kept under the instance folder: a test's go to its own temporary one."""
    monkeypatch.setattr(app, "instance_path", str(tmp_path))


@pytest.fixture
def nurse(as_role):
    return as_role("nurse")


# The whole task -------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_good_file_of_2000_rows_imports_every_patient_with_pump_refill_schedule_and_booking(session, world, nurse):
    rows = [row(n) if n % 4 else evaluation_row(n) for n in range(1, 2001)]
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:  # statistics left by earlier tests: the import must write its own
        session.execute(text("ANALYZE"))
        session.execute(text("DELETE FROM sqlite_stat1"))
        session.commit()
    started = time.perf_counter()
    token, page = check(nurse, csv_bytes(rows))
    checked = time.perf_counter()
    assert page.status_code == 200, issues(page)[:5]
    assert "Ready to import" in page.get_data(as_text=True)
    response = run(nurse, token)
    finished = time.perf_counter()
    assert response.status_code == 302 and "/import/done" in response.headers["Location"]
    print(f"\n2,000 rows: check {checked - started:.1f} s, import {finished - checked:.1f} s")

    counts = row_counts(session)
    assert counts["patient"] == 2000
    assert counts["pump"] == counts["refill_schedule"] == counts["refill_visit"] == counts["dose_change"] == 1500
    assert counts["refill_appointment"] == 1500
    assert counts["implantation"] == 1500
    assert counts["stage_event"] == 500 + 1500 * 3  # referral; referral + implantation + adjustment
    assert schedule_violations(session) == []
    if sqlite:  # the planner's statistics describe the imported rows (tracker.services.maintenance)
        stat = session.scalar(text("SELECT stat FROM sqlite_stat1 WHERE tbl = 'patient' AND idx = 'ix_patient_board'"))
        assert stat.split()[0] == "2000"
    # Every patient, pump, fill, dose, booking and stage event has its audit row, plus one for the import.
    audited = dict(session.execute(select(AuditEvent.entity, func.count()).group_by(AuditEvent.entity)).all())
    assert audited["patient"] == 2000 and audited["pump"] == 1500 and audited["refill_visit"] == 1500
    assert audited["stage_event"] == counts["stage_event"] and audited["refill_appointment"] == 1500
    assert audited["patient_import"] == 1

    summary = nurse.get(response.headers["Location"]).get_data(as_text=True)
    assert "Import finished" in summary and "2000 patient rows" in summary


def test_the_stored_refill_dates_are_the_ones_recompute_schedule_gives(session, world, nurse):
    """The import writes the schedule from its own projection; the app's one function must agree, field for field."""
    rows = [
        row(1),
        row(
            2,
            withdrawal_risk="yes",
            withdrawal_risk_reason="SCI above T6",
            pump_model="Prometra 20 mL",
            alarm_volume_ml="",
            last_refill_volume_ml="18.5",
            concentration_mcg_per_ml="500",
            daily_dose_mcg="300",
            next_refill_date="",
        ),
    ]
    token, _ = check(nurse, csv_bytes(rows))
    run(nurse, token)
    for schedule in session.scalars(select(RefillSchedule)).all():
        stored = {
            k: getattr(schedule, k)
            for k in (
                "due_date",
                "alarm_date",
                "empty_date",
                "stability_date",
                "binding_rule",
                "explanation",
                "daily_volume_ml",
                "fill_at",
            )
        }
        fresh = recompute_schedule(session, session.get(Pump, schedule.pump_id))
        assert stored == {k: getattr(fresh, k) for k in stored}
    prometra = session.scalar(select(Pump).where(Pump.serial == "NGP000002"))
    assert prometra.alarm_volume_ml == Decimal(3)  # the model's default when the cell is empty
    session.rollback()


def test_an_imported_pump_is_due_for_its_battery_in_calendar_months_from_the_implant(session, world, nurse):
    token, _ = check(
        nurse, csv_bytes([row(1, referral_date="2018-01-10", implanted_on="2018-08-31", stage_since="2018-09-01")])
    )
    run(nurse, token)
    # SynchroMed II, 84 months: 31 Aug 2025 (84 x 30 days would have said 25 Jul 2025).
    assert session.scalar(select(Pump.battery_replacement_due)) == date(2025, 8, 31)


def test_the_patient_page_shows_an_imported_patient(session, world, nurse):
    token, _ = check(nurse, csv_bytes([row(1)]))
    run(nurse, token)
    patient = session.scalar(select(Patient))
    page = nurse.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "Peña1" in page and "Imported from patients.csv, line 2" in page and "NGP000001" in page


# Files with errors: the right line and column, and nothing written ---------------------------------------------

BAD_FILES = {
    "bad date": ({3: {"date_of_birth": "02/30/1968"}}, (4, "date_of_birth", "02/30/1968", "is not a real date")),
    "bad date format": (
        {2: {"last_refill_date": "30.01.2024"}},
        (3, "last_refill_date", "30.01.2024", "is not a date"),
    ),
    "unknown stage": ({5: {"stage": "titration"}}, (6, "stage", "titration", "Unknown value")),
    "fill above reservoir": (
        {2: {"pump_model": "SynchroMed II 20 mL", "last_refill_volume_ml": "22"}},
        (3, "last_refill_volume_ml", "22", "more than the 20 mL reservoir"),
    ),
    "alarm above reservoir": ({1: {"alarm_volume_ml": "45"}}, (2, "alarm_volume_ml", "45", "below the 40 mL")),
    "negative dose": ({4: {"daily_dose_mcg": "-400"}}, (5, "daily_dose_mcg", "-400", "negative")),
    "refill in the future": (
        {2: {"last_refill_date": (TODAY + timedelta(days=3)).isoformat()}},
        (3, "last_refill_date", (TODAY + timedelta(days=3)).isoformat(), "future"),
    ),
    "unknown location": ({3: {"location": "Mars Clinic"}}, (4, "location", "Mars Clinic", "No active location")),
    "unknown pump model": ({3: {"pump_model": "AcmePump 9"}}, (4, "pump_model", "AcmePump 9", "Unknown pump model")),
    "trial-only concentration": (
        {3: {"concentration_mcg_per_ml": "50"}},
        (4, "concentration_mcg_per_ml", "50", "Not a pump concentration"),
    ),
    "duplicate MRN": ({4: {"mrn": " imp000002 "}}, (5, "mrn", "imp000002", "Duplicate MRN: also on line 3")),
    "unknown nurse": (
        {2: {"primary_nurse_email": "ghost@example.org"}},
        (3, "primary_nurse_email", "ghost@example.org", "No active nurse"),
    ),
    "booking after the alarm": (
        {
            2: {
                "pump_model": "SynchroMed II 20 mL",
                "last_refill_volume_ml": "20",
                "concentration_mcg_per_ml": "500",
                "daily_dose_mcg": "300",
                "last_refill_date": (TODAY - timedelta(days=5)).isoformat(),
                "next_refill_date": (TODAY + timedelta(days=40)).isoformat(),
            }
        },
        (3, "next_refill_date", (TODAY + timedelta(days=40)).isoformat(), "after the pump's low-reservoir alarm"),
    ),
    "missing pump for an implanted patient": (
        {3: {"pump_serial": ""}},
        (4, "pump_serial", "", "Required for a patient in adjustment"),
    ),
    "csv injection is only text, but a bad date is still bad": (
        {2: {"first_name": "=cmd|' /C calc'!A0", "date_of_birth": "=1+2"}},
        (3, "date_of_birth", "=1+2", "is not a date"),
    ),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_file_with_an_error_is_rejected_with_its_line_and_column_and_nothing_is_written(session, world, nurse, name):
    changes, (line, column, value, message) = BAD_FILES[name]
    rows = [row(n, **changes.get(n, {})) for n in range(1, 7)]
    before = row_counts(session)
    token, page = check(nurse, csv_bytes(rows))
    assert page.status_code == 422
    found = issues(page)
    assert len(found) == 1, found
    assert found[0][:3] == (str(line), column, value.strip())
    assert message in found[0][3], found[0][3]
    assert "nothing was imported" in page.get_data(as_text=True)
    # Posting the import anyway (a stale tab, a crafted request) is refused just the same.
    response = run(nurse, token)
    assert response.status_code == 302 and "/import/check" in response.headers["Location"]
    assert row_counts(session) == before


def test_a_missing_column_is_reported_on_the_header_line_and_nothing_is_written(session, world, nurse):
    header = [h for h in HEADER if h != "date_of_birth"]
    before = row_counts(session)
    response = upload(nurse, csv_bytes([row(1), row(2)], header=header))
    assert "/import/columns" in response.headers["Location"]  # not the template's headers: the matching step
    token = token_of(response)
    page = nurse.get(f"/import/columns?token={token}")
    assert 'name="date_of_birth"' in page.get_data(as_text=True)
    fields = {c.name: str(header.index(c.name)) if c.name in header else "" for c in COLUMNS}
    response = nurse.post("/import/columns", {"token": token, **fields})
    assert response.status_code == 302
    page = nurse.get(f"/import/check?token={token}")
    assert issues(page) == [
        (
            "1",
            "date_of_birth",
            "",
            "Missing column: the file has no column for Date of birth (date_of_birth), which every patient needs.",
        )
    ]
    assert run(nurse, token).status_code == 302
    assert row_counts(session) == before


def test_a_utf16_file_is_refused_as_the_wrong_encoding(session, world, nurse):
    before = row_counts(session)
    page = upload(nurse, "\ufeff".encode("utf-16-le") + csv_bytes([row(1)]).decode().encode("utf-16-le"))
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "This file cannot be read" in html and "UTF-16" in html
    assert row_counts(session) == before


def test_a_file_mixing_encodings_names_the_cell_with_the_bad_bytes(session, world, nurse):
    good = csv_bytes([row(1), row(2)])  # UTF-8 ("Peña")
    bad = good.replace(b"Pe\xc3\xb1a2", b"Pe\xf1a2")  # line 3 in Windows-1252
    token, page = check(nurse, bad)
    assert page.status_code == 422
    assert issues(page)[0][:2] == ("3", "last_name") and "Wrong encoding" in issues(page)[0][3]


# Encodings, delimiters, column matching ----------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8-sig", "utf-8"])
def test_pena_keeps_its_tilde_whatever_the_encoding(session, world, nurse, encoding):
    token, page = check(nurse, csv_bytes([row(1, last_name="Peña", first_name="José")], encoding=encoding))
    assert page.status_code == 200
    assert {"cp1252": "Windows-1252", "utf-8-sig": "UTF-8 with BOM", "utf-8": "UTF-8"}[encoding] in page.get_data(
        as_text=True
    )
    run(nurse, token)
    patient = session.scalar(select(Patient))
    assert (patient.first_name, patient.last_name) == ("José", "Peña")


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolon_and_tab_files_are_read(session, world, nurse, delimiter):
    token, page = check(nurse, csv_bytes([row(1), evaluation_row(2)], delimiter=delimiter))
    assert page.status_code == 200 and ">2</dd>" in page.get_data(as_text=True)


def test_headers_that_differ_are_matched_on_the_columns_page_with_best_guesses(session, world, nurse):
    header = ["Medical record number", "First name", "Surname", "DOB"] + HEADER[4:]
    response = upload(nurse, csv_bytes([row(1), row(2)], header=header))
    token = token_of(response)
    page = nurse.get(f"/import/columns?token={token}").get_data(as_text=True)
    assert re.search(r'name="mrn">.*?<option selected value="0">Medical record number', page, re.S)
    assert re.search(r'name="date_of_birth">.*?<option selected value="3">DOB', page, re.S)
    fields = {c.name: str(i) for i, c in enumerate(COLUMNS)}
    clash = nurse.post("/import/columns", {"token": token, **fields, "first_name": "0"})
    assert clash.status_code == 422 and "Already used for MRN" in clash.get_data(as_text=True)
    assert nurse.post("/import/columns", {"token": token, **fields}).status_code == 302
    run(nurse, token)
    assert session.scalar(select(func.count(Patient.id))) == 2


def test_us_dates_and_iso_dates_mean_the_same_day(session, world, nurse):
    token, _ = check(nurse, csv_bytes([row(1, date_of_birth="4/12/1968"), row(2, date_of_birth="1968-04-12")]))
    run(nurse, token)
    assert {p.date_of_birth.isoformat() for p in session.scalars(select(Patient))} == {"1968-04-12"}


def test_csv_injection_cells_are_stored_as_plain_text(session, world, nurse):
    token, _ = check(nurse, csv_bytes([row(1, first_name="=cmd|' /C calc'!A0", phone="+1-555-0100")]))
    run(nurse, token)
    patient = session.scalar(select(Patient))
    assert patient.first_name == "=cmd|' /C calc'!A0" and patient.phone == "+1-555-0100"


# Re-import -------------------------------------------------------------------------------------------------------


def test_reimporting_the_same_file_creates_nothing_and_reports_every_row_unchanged(session, world, nurse):
    data = csv_bytes([row(n) for n in range(1, 6)] + [evaluation_row(n) for n in range(6, 9)])
    token, _ = check(nurse, data)
    run(nurse, token)
    before = row_counts(session)
    token, page = check(nurse, data)
    html = page.get_data(as_text=True)
    assert "Every patient in this file is already here and unchanged" in html
    assert re.search(r"<dt>Unchanged</dt><dd>8</dd>", html)
    run(nurse, token)  # even when forced
    assert row_counts(session) == before


def test_reimport_says_what_it_would_update_then_updates_only_that(session, world, nurse):
    token, _ = check(nurse, csv_bytes([row(1), row(2), evaluation_row(3)]))
    run(nurse, token)
    newer = (TODAY - timedelta(days=2)).isoformat()
    changed = [
        row(1, last_name="Peña-Smith", alarm_volume_ml="4"),
        row(
            2,
            last_refill_date=newer,
            last_refill_volume_ml="39",
            daily_dose_mcg="420",
            next_refill_date=(TODAY + timedelta(days=90)).isoformat(),
            next_refill_time="",
        ),
        evaluation_row(3, stage="trial", stage_since=TODAY.isoformat()),
    ]
    before = row_counts(session)
    token, page = check(nurse, csv_bytes(changed))
    html = page.get_data(as_text=True)
    assert "Last name: Peña1 → Peña-Smith" in html and "Low-reservoir alarm (mL): 2 → 4" in html
    assert "New refill on" in html and "Daily dose: 400 → 420 mcg/day" in html and "Next refill booked" in html
    assert "Stage: Evaluation → Trial" in html
    assert row_counts(session) == before  # the check writes nothing
    due_before = session.scalar(
        select(RefillSchedule.due_date)
        .join(Patient, Patient.id == RefillSchedule.patient_id)
        .where(Patient.mrn == "IMP000002")
    )
    run(nurse, token)
    after = row_counts(session)
    newest = session.scalar(
        select(RefillVisit)
        .join(Pump, Pump.id == RefillVisit.pump_id)
        .join(Patient, Patient.id == Pump.patient_id)
        .where(Patient.mrn == "IMP000002")
        .order_by(RefillVisit.visit_at.desc())
        .limit(1)
    )
    assert due_before is not None and newest.due_date_in_force == due_before  # what the worklist showed
    assert after["patient"] == before["patient"]
    assert after["refill_visit"] == before["refill_visit"] + 1 and after["dose_change"] == before["dose_change"] + 1
    assert after["stage_event"] == before["stage_event"] + 1
    assert after["refill_appointment"] == before["refill_appointment"] + 1
    second = session.scalar(select(Patient).where(Patient.mrn == "IMP000002"))
    appointments = session.scalars(
        select(RefillAppointment).where(RefillAppointment.patient_id == second.id).order_by(RefillAppointment.id)
    ).all()
    assert [a.status for a in appointments] == ["completed", "booked"]  # the refill completed the old booking
    assert schedule_violations(session) == []
    schedule = session.scalar(select(RefillSchedule).where(RefillSchedule.patient_id == second.id))
    assert schedule.fill_at.date().isoformat() >= newer[:10] or schedule.volume_after_fill_ml == Decimal("39")
    # ...and running the changed file again is a no-op.
    token, page = check(nurse, csv_bytes(changed))
    assert "already here and unchanged" in page.get_data(as_text=True)


def test_reimport_refuses_what_only_the_app_may_change(session, world, nurse):
    patient = implanted_days_ago(session, world, 10)
    pump = session.scalar(select(Pump).where(Pump.patient_id == patient.id))
    base = dict(
        mrn=patient.mrn.lower(),
        last_name=patient.last_name,
        first_name=patient.first_name,
        date_of_birth=patient.date_of_birth.isoformat(),
        referral_date=patient.journey_started.isoformat(),
        pump_model="SynchroMed II 20 mL",
        pump_serial=pump.serial,
        implanted_on=pump.implanted_on.isoformat(),
        last_refill_date=pump.implanted_on.isoformat(),
        last_refill_volume_ml="20",
        concentration_mcg_per_ml="500",
        daily_dose_mcg="300",
        next_refill_date="",
        stage_since=pump.implanted_on.isoformat(),
        phone="",
    )
    before = row_counts(session)
    token, page = check(nurse, csv_bytes([row(1, **base)]))
    assert page.status_code == 200 and "<dt>Unchanged</dt><dd>1</dd>" in page.get_data(as_text=True)
    refusals = {
        "pump_serial": {"pump_serial": "OTHER1"},
        "stage": {"stage": "implantation"},
        "daily_dose_mcg": {"daily_dose_mcg": "350"},
        "last_refill_volume_ml": {"last_refill_volume_ml": "19"},
    }
    for column, change in refusals.items():
        _, page = check(nurse, csv_bytes([row(1, **(base | change))]))
        assert page.status_code == 422 and issues(page)[0][:2] == ("2", column), (column, issues(page))
    assert row_counts(session) == before


# Progress, the summary, and what nobody should be able to break -------------------------------------------------


@pytest.mark.slow
def test_the_import_streams_progress_lines_then_the_summary(session, world, nurse, monkeypatch):
    monkeypatch.setattr(import_write, "BATCH", 500)  # three batches of this file
    token, _ = check(nurse, csv_bytes([row(n) for n in range(1, 1201)]))
    response = run(nurse, token, stream=True)
    assert response.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    writes = [line["done"] for line in lines if line.get("phase") == "write"]
    assert writes == sorted(writes) and len(writes) >= 3 and writes[-1] == 1200
    assert "Import finished" in lines[-1]["summary_html"] and "1200" in lines[-1]["summary_html"]
    assert nurse.get(lines[-1]["done_url"]).status_code == 200
    assert session.scalar(select(func.count(Patient.id))) == 1200
    assert run(nurse, token).status_code == 302  # the upload is gone once imported: no second import


def test_a_refused_stream_points_back_to_the_check(session, world, nurse):
    token, _ = check(nurse, csv_bytes([row(1, stage="exited")]))
    lines = [json.loads(line) for line in run(nurse, token, stream=True).get_data(as_text=True).splitlines()]
    assert "nothing was imported" in lines[-1]["error"] and lines[-1]["check_url"].startswith("/import/check")


GARBAGE = {
    "empty": b"",
    "only blank lines": b"\r\n\r\n  \r\n",
    "only a header": ",".join(HEADER).encode() + b"\r\n",
    "binary": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
    "xlsx": b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + b"\x00" * 200,
    "huge line": b"mrn," + b"x" * 200_000 + b"\r\n1,2\r\n",
    "unclosed quote": ",".join(HEADER).encode() + b'\r\n"IMP1,Rosa\r\n',
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_garbage_files_get_a_message_never_a_server_error(session, world, nurse, name):
    before = row_counts(session)
    response = upload(nurse, GARBAGE[name])
    if response.status_code == 302:  # read as a table after all: the check page lists the problems
        response = nurse.get(response.headers["Location"])
        if "/import/columns" in response.request.path:
            response = nurse.get(f"/import/check?token={token_of(upload(nurse, GARBAGE[name]))}")
    assert response.status_code in (200, 422), response.status_code
    assert row_counts(session) == before


def test_no_file_and_a_file_over_the_limit_are_refused(session, world, nurse):
    assert nurse.post("/import/", {}).status_code == 422
    response = upload(nurse, b"mrn\r\n" + b"x" * (11 * 1024 * 1024))
    assert response.status_code == 413 and "larger than 10 MB" in response.get_data(as_text=True)


def test_an_upload_belongs_to_the_user_who_sent_it(session, world, nurse, as_role):
    token, _ = check(nurse, csv_bytes([row(1)]))
    other = as_role("physician")
    assert other.get(f"/import/check?token={token}").status_code == 302
    assert run(other, token).status_code == 302
    assert session.scalar(select(func.count(Patient.id))) == 0


def test_the_template_downloads_with_its_example_row_which_imports_as_is(session, world, nurse):
    response = nurse.get("/import/template.csv")
    assert response.mimetype == "text/csv" and response.data.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert lines[0] == HEADER and len(lines) == 2
    token, page = check(nurse, response.data.replace(b"nurse@example.org", b"nurse@example.org"))
    assert page.status_code == 200, issues(page)
    run(nurse, token)
    assert session.scalar(select(Patient.last_name)) == "Peña"
    guide = nurse.get("/import/guide").get_data(as_text=True)
    assert all(c.name in guide for c in COLUMNS)


def test_coordinators_and_admins_cannot_import(world, as_role):
    for role in ("coordinator", "admin"):
        client = as_role(role)
        assert client.get("/import/").status_code == 403
        assert client.get("/import/template.csv").status_code == 403


def test_each_written_row_has_an_audit_entry_naming_the_importing_user(session, world, nurse):
    token, _ = check(nurse, csv_bytes([row(1)]))
    run(nurse, token)
    entities = session.execute(select(AuditEvent.entity, AuditEvent.user_id)).all()
    assert {user for _, user in entities} == {world.users["nurse"].id}
    assert sorted(e for e, _ in entities) == sorted(
        [
            "patient",
            "stage_event",
            "stage_event",
            "stage_event",
            "pump",
            "refill_visit",
            "dose_change",
            "refill_appointment",
            "patient_import",
        ]
    )
    assert session.scalar(select(func.count(StageEvent.id))) == 3
    assert session.scalar(select(func.count(DoseChange.id))) == session.scalar(select(func.count(RefillVisit.id)))


def test_an_imported_patient_already_due_with_nothing_booked_is_flagged_in_the_summary(session, world, nurse):
    overdue = (TODAY - timedelta(days=200)).isoformat()
    token, _ = check(nurse, csv_bytes([row(1, last_refill_date=overdue, next_refill_date=""), row(2)]))
    response = run(nurse, token)
    page = nurse.get(response.headers["Location"]).get_data(as_text=True)
    assert "1 imported patient with a pump is already due" in page and "/worklist" in page
