"""Issue 17, item 2: the import keeps the programme (PTM boluses, flexible schedules) so its dates are the forms',
shows the refill visit's warnings by line and column, and the pumps already late, before anything is saved."""

from __future__ import annotations

import html as html_module
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.support.factories import TODAY, implanted_days_ago
from tests.web.test_fuzz_forms import row_counts
from tests.web.test_import import check, csv_bytes, row, run, uploads_in_tmp  # noqa: F401
from tracker.formats import fmt_date
from tracker.models import DoseChange, Patient, Pump, RefillSchedule, RefillVisit
from tracker.services.refills import Programme, recompute_schedule

PTM = Programme(Decimal(200), Decimal(25), 4)
WEEKEND = {
    "default": [["00:00", "10"], ["06:00", "12"], ["18:00", "10"]],
    "by_weekday": {day: [["00:00", "10"], ["09:00", "60"], ["21:00", "10"]] for day in ("5", "6")},
}


@pytest.fixture
def nurse(as_role):
    return as_role("nurse")


def pump_row(n: int, filled_on, **overrides) -> dict:
    """A SynchroMed II 20 mL at 500 mcg/mL filled (and implanted) on `filled_on`, nothing booked."""
    return row(
        n,
        **{
            "pump_model": "SynchroMed II 20 mL",
            "concentration_mcg_per_ml": "500",
            "implanted_on": filled_on.isoformat(),
            "stage_since": filled_on.isoformat(),
            "last_refill_date": filled_on.isoformat(),
            "next_refill_date": "",
            "next_refill_time": "",
            **overrides,
        },
    )


def schedule_of(session, mrn: str) -> RefillSchedule:
    return session.scalar(
        select(RefillSchedule).join(Patient, Patient.id == RefillSchedule.patient_id).where(Patient.mrn == mrn)
    )


def dose_of(session, mrn: str) -> DoseChange:
    return session.scalar(
        select(DoseChange)
        .join(Pump, Pump.id == DoseChange.pump_id)
        .join(Patient, Patient.id == Pump.patient_id)
        .where(Patient.mrn == mrn)
        .order_by(DoseChange.id.desc())
        .limit(1)
    )


def dates(schedule: RefillSchedule) -> tuple:
    return schedule.due_date, schedule.alarm_date, schedule.empty_date, schedule.daily_volume_ml


def table_rows(page, css_class: str) -> list[tuple[str, ...]]:
    """The text of each body row's cells in the check page's table of that class."""
    html = page.get_data(as_text=True)
    body = html.split(f'class="striped {css_class}', 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    return [
        tuple(
            html_module.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        )
        for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


# The programme: the import's dates are the forms' ---------------------------------------------------------------


def test_a_ptm_patient_imported_with_its_boluses_is_due_on_the_day_the_forms_give(session, world, nurse):
    entered = implanted_days_ago(session, world, 10, fill_ml="16.4", programme=PTM)  # through tracker.services
    filled_on = TODAY - timedelta(days=10)
    ptm = pump_row(
        1, filled_on, last_refill_volume_ml="16.4", daily_dose_mcg="200", bolus_dose_mcg="25", max_boluses_per_day="4"
    )
    without = pump_row(2, filled_on, last_refill_volume_ml="16.4", daily_dose_mcg="200")
    token, page = check(nurse, csv_bytes([ptm, without]))
    assert page.status_code == 200
    run(nurse, token)
    truth = session.scalar(select(RefillSchedule).where(RefillSchedule.patient_id == entered.id))
    assert dates(schedule_of(session, "IMP000001")) == dates(truth)
    stored = dose_of(session, "IMP000001")
    assert (stored.mode, stored.daily_dose_mcg, stored.bolus_dose_mcg, stored.max_boluses_per_day) == (
        "simple",
        Decimal(200),
        Decimal(25),
        4,
    )
    # 14.4 mL above the alarm = 7200 mcg: 200 + 4 x 25 = 300 mcg/day, due day 24 - 7 = 17. Without the boluses,
    # 200 mcg/day: due day 36 - 7 = 29, twelve days after the truth.
    assert truth.due_date == filled_on + timedelta(days=17)
    assert schedule_of(session, "IMP000002").due_date - truth.due_date == timedelta(days=12)


def test_a_flexible_weekly_schedule_with_boluses_imports_to_the_forms_dates(session, world, nurse):
    # Filled on a Saturday: the heavy weekend comes first, so a weekly average would date the pump days late.
    days = 3 + ((TODAY - timedelta(days=3)).weekday() - 5) % 7
    entered = implanted_days_ago(session, world, days, programme=Programme(Decimal(0), Decimal(10), 3, WEEKEND))
    token, page = check(
        nurse,
        csv_bytes(
            [
                pump_row(
                    1,
                    TODAY - timedelta(days=days),
                    last_refill_volume_ml="20",
                    daily_dose_mcg="",
                    flex_schedule="06:00 12; 18:00 10; Sat Sun: 00:00 10; 09:00 60; 21:00 10",
                    bolus_dose_mcg="10",
                    max_boluses_per_day="3",
                )
            ]
        ),
    )
    assert page.status_code == 200
    run(nurse, token)
    truth = session.scalar(select(RefillSchedule).where(RefillSchedule.patient_id == entered.id))
    assert dates(schedule_of(session, "IMP000001")) == dates(truth)
    imported, typed = dose_of(session, "IMP000001"), dose_of(session, entered.mrn)
    assert (imported.mode, imported.daily_dose_mcg, imported.flex_schedule) == ("flex", typed.daily_dose_mcg, WEEKEND)
    fresh = recompute_schedule(session, session.get(Pump, schedule_of(session, "IMP000001").pump_id))
    assert dates(fresh) == dates(truth)  # the app's own recompute reads the stored schedule the same way
    session.rollback()


# The dry run: warnings by line and column, late pumps first --------------------------------------------------------


def test_the_dry_run_shows_each_refill_warning_by_line_and_column_and_the_late_pumps_first(session, world, nurse):
    rows = [
        row(1),  # line 2: nothing unusual
        row(2, expected_residual_ml="4", actual_residual_ml="1.5", previous_refill_volume_ml="40"),  # line 3
        row(3, volume_added_ml="40", last_refill_volume_ml="37.5"),  # line 4: 2.5 mL missing on a 40 mL pump
        row(4, previous_concentration_mcg_per_ml="1000"),  # line 5: 1000 -> 2000 mcg/mL
        row(
            5, daily_dose_mcg="2200", last_refill_date=(TODAY - timedelta(days=2)).isoformat(), next_refill_date=""
        ),  # line 6: above the usual 2000 mcg/day
        # 40 mL, 2000 mcg/mL, 400 mcg/day (0.2 mL a day): due by the 180-day limit, alarm on day 190, empty 200.
        row(6, last_refill_date=(TODAY - timedelta(days=185)).isoformat(), next_refill_date=""),  # line 7: overdue
        row(7, last_refill_date=(TODAY - timedelta(days=195)).isoformat(), next_refill_date=""),  # line 8: alarm
    ]
    before = row_counts(session)
    token, page = check(nurse, csv_bytes(rows))
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "Ready to import" in html
    warnings = [cells[:4] for cells in table_rows(page, "issues import-warnings")]
    assert warnings == [
        ("3", "actual_residual_ml", "1.5", "high"),
        ("4", "volume_added_ml", "40", "high"),
        ("5", "concentration_mcg_per_ml", "2000", "high"),
        ("6", "daily_dose_mcg", "2200", "low"),
    ]
    assert "Residual 2.5 mL less than expected" in html and "suggests a pocket fill" in html
    assert "a bridge bolus is required" in html and "above the usual 20-2000 mcg/day" in html
    # The late pumps, counted at the top, most urgent first, in the worklist's words, before the rest of the page.
    assert "2 pumps are already late" in html and html.index("already late") < html.index("Ready to import")
    late = table_rows(page, "late-rows")
    assert [(cells[0], cells[3]) for cells in late] == [
        ("8", "Past the low-reservoir alarm date"),
        ("7", "Refill overdue"),
    ]
    assert late[1][4] == fmt_date(TODAY - timedelta(days=5))  # due on day 180 of 185
    assert 'class="urgency-past_alarm tone-red"' in html

    # High warnings are acknowledged, as at the refill form: without the box, nothing is written.
    response = run(nurse, token)
    assert "/import/check" in response.headers["Location"] and row_counts(session) == before
    response = nurse.post("/import/run", {"token": token, "acknowledge": "y"})
    assert "/import/done" in response.headers["Location"]
    assert session.scalar(select(func.count(Patient.id))) == 7
    visit = session.scalar(
        select(RefillVisit).join(Pump, Pump.id == RefillVisit.pump_id).where(Pump.serial == "NGP000002")
    )
    assert (visit.expected_residual_ml, visit.actual_residual_ml) == (Decimal(4), Decimal("1.5"))
    assert [w["code"] for w in visit.warnings] == ["residual_discrepancy"]
    assert visit.acknowledged_by_id == world.users["nurse"].id
    quiet = session.scalar(
        select(RefillVisit).join(Pump, Pump.id == RefillVisit.pump_id).where(Pump.serial == "NGP000001")
    )
    assert quiet.warnings is None and quiet.acknowledged_by_id is None


def test_a_file_without_late_pumps_or_warnings_says_nothing_of_them(session, world, nurse):
    _, page = check(nurse, csv_bytes([row(1), row(2)]))
    html = page.get_data(as_text=True)
    assert "already late" not in html and "from the refill checks" not in html and 'name="acknowledge"' not in html


# Patients already here ---------------------------------------------------------------------------------------------


def test_reimport_keeps_the_apps_boluses_and_checks_a_new_refill_against_the_apps_last_fill(session, world, nurse):
    patient = implanted_days_ago(session, world, 10, fill_ml="16.4", programme=PTM)
    pump = session.scalar(select(Pump).where(Pump.patient_id == patient.id))
    filled_on = TODAY - timedelta(days=10)
    same = dict(
        mrn=patient.mrn,
        last_name=patient.last_name,
        first_name=patient.first_name,
        date_of_birth=patient.date_of_birth.isoformat(),
        referral_date=patient.journey_started.isoformat(),
        pump_serial=pump.serial,
        last_refill_volume_ml="16.4",
        daily_dose_mcg="200",
        phone="",
    )
    # The same refill, no bolus columns: an empty optional cell keeps the app's boluses, so nothing changes.
    _, page = check(nurse, csv_bytes([pump_row(1, filled_on, **same)]))
    assert "<dt>Unchanged</dt><dd>1</dd>" in page.get_data(as_text=True)

    # A newer refill at 1000 mcg/mL: the app's last fill was 500, so a bridge bolus is flagged without the column.
    newer = dict(
        same,
        last_refill_date=(TODAY - timedelta(days=1)).isoformat(),
        concentration_mcg_per_ml="1000",
        last_refill_volume_ml="18",
    )
    token, page = check(nurse, csv_bytes([pump_row(1, filled_on, **newer)]))
    assert [cells[:4] for cells in table_rows(page, "issues import-warnings")] == [
        ("2", "concentration_mcg_per_ml", "1000", "high")
    ]
    doses = session.scalar(select(func.count(DoseChange.id)))
    nurse.post("/import/run", {"token": token, "acknowledge": "y"})
    assert session.scalar(select(func.count(DoseChange.id))) == doses  # the boluses were kept: no dose change
    schedule = session.scalar(select(RefillSchedule).where(RefillSchedule.pump_id == pump.id))
    # 16 mL above the alarm at 1000 mcg/mL = 16000 mcg at 300 mcg/day (200 + 4 x 25): alarm day 53, due day 46.
    assert schedule.due_date == TODAY - timedelta(days=1) + timedelta(days=46)

    # A file that changes the boluses at a newer refill records the programme, and says so first.
    changed = dict(newer, last_refill_date=TODAY.isoformat(), bolus_dose_mcg="25", max_boluses_per_day="2")
    token, page = check(nurse, csv_bytes([pump_row(1, filled_on, **changed)]))
    assert (
        "Programme: 200 mcg/day plus up to 4 boluses of 25 mcg a day → 200 mcg/day plus up to 2 boluses of 25 mcg a day"
    ) in page.get_data(as_text=True)
    run(nurse, token)
    latest = dose_of(session, patient.mrn)
    assert (latest.daily_dose_mcg, latest.bolus_dose_mcg, latest.max_boluses_per_day) == (Decimal(200), Decimal(25), 2)
