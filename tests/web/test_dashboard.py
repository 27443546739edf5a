"""The quality dashboard on a hand-built clinic whose answers are known: figures, CSV tables, the patients
behind each figure, the export-names rule, and a constant number of queries."""

import csv
import io
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from sqlalchemy import select, update

from tests.support.factories import CLINIC_ZONE, TODAY, implanted_days_ago, make_patient, move
from tests.web.test_query_counts import clinic_of, statements  # noqa: F401 (clinic_of is a fixture)
from tracker.clinical.refill_risk import BATTERY_ERI, BATTERY_PAST_DUE, LABELS, PAST_ALARM, add_months
from tracker.models import Patient, Pump, RefillVisit
from tracker.services.bookings import book_refill
from tracker.services.refill_list_queries import late_count
from tracker.services.refill_visits import RefillEntry, record_refill
from tracker.services.refills import current_pump

# Two whole months, four months back: refills there are history, whatever day the suite runs.
FIRST = add_months(TODAY.replace(day=1), -4)
SECOND = add_months(FIRST, 1)
RANGE = {"from": FIRST.isoformat(), "to": (add_months(FIRST, 2) - timedelta(days=1)).isoformat()}


def query(**args) -> str:
    return urlencode(args)


def table(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def refilled(session, world, site, visit_day, days_after_implant, warning=None):
    """A patient implanted `days_after_implant` before `visit_day` (default pump: due on day 23), refilled at noon
    that day. The warning, if any, is produced by the real refill preview from the numbers entered."""
    patient = implanted_days_ago(session, world, (TODAY - visit_day).days + days_after_implant)
    patient.location_id = world.sites[site].id
    session.commit()
    residual = max(Decimal(0), Decimal(20) - Decimal("0.6") * days_after_implant)
    actual, added, resulting = residual, Decimal(20), Decimal(20)  # aspirated empty, then filled
    if warning == "residual_discrepancy":
        actual = residual - 3 if residual >= 3 else residual + 3  # 3 mL off: beyond the 2 mL rule
    if warning == "pocket_fill":
        resulting = Decimal("18.5")  # 1.5 mL less than what went in, on a 20 mL pump
    entry = RefillEntry(
        visit_at=datetime.combine(visit_day, time(12), CLINIC_ZONE),
        expected_residual_ml=residual,
        actual_residual_ml=actual,
        concentration_mcg_per_ml=500,
        volume_added_ml=added,
        resulting_volume_ml=resulting,
    )
    record_refill(session, world.actor(), current_pump(session, patient.id).id, entry, True, datetime.now(UTC))
    return patient


@pytest.fixture
def refills(session, world):
    """Eight refills with known answers. On-time refills come 2 days early and late ones well late, so a daylight
    saving change (which can bring a due date a day earlier) never moves a refill across a line.

    First month: 3 of 4 on time (75%); second month: 2 of 4 (50%). Kennesaw 3 of 4, Snellville 2 of 4.
    Late by 10 (8-14 days), 2 (1-3) and 20 (15+). Two residual discrepancies and one pocket fill in 8 refills."""
    day = lambda month, n: month + timedelta(days=n)  # noqa: E731
    return {
        "k1": refilled(session, world, "Kennesaw Clinic", day(FIRST, 1), 21),
        "k2": refilled(session, world, "Kennesaw Clinic", day(FIRST, 3), 21),
        "s1": refilled(session, world, "Snellville Clinic", day(FIRST, 5), 21, "residual_discrepancy"),
        "s2_late_10": refilled(session, world, "Snellville Clinic", day(FIRST, 6), 33, "residual_discrepancy"),
        "k3_late_2": refilled(session, world, "Kennesaw Clinic", day(SECOND, 2), 25, "pocket_fill"),
        "k4": refilled(session, world, "Kennesaw Clinic", day(SECOND, 3), 21),
        "s3_late_20": refilled(session, world, "Snellville Clinic", day(SECOND, 4), 43),
        "s4": refilled(session, world, "Snellville Clinic", day(SECOND, 5), 21),
    }


def test_dashboard_figures_match_the_hand_built_clinic(as_role, refills):
    lead = as_role("physician")
    summary = {row[0]: row[1:] for row in table(lead.get(f"/quality/export.csv?{query(table='summary', **RANGE)}"))}
    assert summary["refills on or before the due date (%)"] == ["62.5", "8"]
    assert summary["residual discrepancy per 100 refills"] == ["25.0", "8"]
    assert summary["pocket fill suspected per 100 refills"] == ["12.5", "8"]
    by_month = table(lead.get(f"/quality/export.csv?{query(table='on_time_by_month', **RANGE)}"))
    assert by_month == [
        ["month", "on_time", "late", "judged", "percent_on_time"],
        [f"{FIRST:%b %Y}", "3", "1", "4", "75.0"],
        [f"{SECOND:%b %Y}", "2", "2", "4", "50.0"],
    ]
    by_location = table(lead.get(f"/quality/export.csv?{query(table='on_time_by_location', **RANGE)}"))
    assert by_location[1:] == [["Kennesaw Clinic", "3", "1", "4", "75.0"], ["Snellville Clinic", "2", "2", "4", "50.0"]]
    late = table(lead.get(f"/quality/export.csv?{query(table='days_late', **RANGE)}"))
    assert [row[:2] for row in late[1:]] == [
        ["1–3 days", "1"],
        ["4–7 days", "0"],
        ["8–14 days", "1"],
        ["15+ days", "1"],
    ]
    page = lead.get(f"/quality?{query(**RANGE)}").get_data(as_text=True)
    for shown in ("62.5%", "75.0%", "50.0%", "25.0", "12.5", "5 of 8 refills", "2 of 8 refills"):
        assert shown in page


def test_the_dashboard_judges_refills_by_the_due_date_stored_with_them(session, refills):
    stored = session.scalars(select(RefillVisit.due_date_in_force).where(RefillVisit.at_implant.is_(False))).all()
    assert len(stored) == 8 and None not in stored  # record_refill kept each one: nothing is recomputed


def test_stored_due_dates_decide_and_a_legacy_refill_is_recomputed(as_role, session, world):
    """Four refills 21 days after implantation (recomputed, each is due 2 days after its visit). Three carry a
    hand-set stored due date that says otherwise; the fourth has none, as if recorded before the column existed."""
    visit_day = FIRST + timedelta(days=9)
    rows = {
        name: refilled(session, world, "Kennesaw Clinic", visit_day, 21)
        for name in ("due_that_day", "late_1", "late_9", "legacy")
    }
    for name, due in (
        ("due_that_day", visit_day),
        ("late_1", visit_day - timedelta(days=1)),
        ("late_9", visit_day - timedelta(days=9)),
        ("legacy", None),
    ):
        pump_id = current_pump(session, rows[name].id).id
        session.execute(
            update(RefillVisit)
            .where(RefillVisit.pump_id == pump_id, RefillVisit.at_implant.is_(False))
            .values(due_date_in_force=due)
        )
    session.commit()
    lead = as_role("physician")
    summary = {row[0]: row[1:] for row in table(lead.get(f"/quality/export.csv?{query(table='summary', **RANGE)}"))}
    # Stored dates ignored would give 100%; the legacy refill left unjudged would give 1 of 3.
    assert summary["refills on or before the due date (%)"] == ["50.0", "4"]
    assert summary["refills whose due date was recomputed (recorded before it was stored)"] == ["1", "4"]
    late = table(lead.get(f"/quality/export.csv?{query(table='days_late', **RANGE)}"))
    assert [row[1] for row in late[1:]] == ["1", "0", "1", "0"]
    html = lead.get(f"/quality/patients?{query(metric='refills', due='recomputed', **RANGE)}").get_data(as_text=True)
    assert rows["legacy"].mrn in html and "recomputed" in html
    assert not any(rows[name].mrn in html for name in ("due_that_day", "late_1", "late_9"))
    page = lead.get(f"/quality?{query(**RANGE)}").get_data(as_text=True)
    assert "stored with the refill when it was recorded" in page
    assert "1</a> refill recorded before the tracker stored that date" in page


def test_the_location_filter_applies_to_every_refill_figure(as_role, world, refills):
    snellville = world.sites["Snellville Clinic"].id
    summary = {
        row[0]: row[1:]
        for row in table(
            as_role("nurse").get(f"/quality/export.csv?{query(table='summary', location=snellville, **RANGE)}")
        )
    }
    assert summary["refills on or before the due date (%)"] == ["50.0", "4"]
    assert summary["residual discrepancy per 100 refills"] == ["50.0", "4"]


def test_every_figure_opens_exactly_the_patients_behind_it(as_role, refills):
    nurse = as_role("nurse")

    def listed(**args) -> set[str]:
        page = nurse.get(f"/quality/patients?{query(**args, **RANGE)}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        return {name for name, p in refills.items() if p.mrn in html}

    assert listed(metric="refills", outcome="late") == {"s2_late_10", "k3_late_2", "s3_late_20"}
    assert listed(metric="refills", outcome="on_time", month=f"{FIRST:%Y-%m}") == {"k1", "k2", "s1"}
    assert listed(metric="refills", bucket="8-14") == {"s2_late_10"}
    assert listed(metric="refills", bucket="15+") == {"s3_late_20"}
    assert listed(metric="refills", warning="residual_discrepancy") == {"s1", "s2_late_10"}
    assert listed(metric="refills", warning="pocket_fill") == {"k3_late_2"}
    html = nurse.get(f"/quality/patients?{query(metric='refills', bucket='8-14', **RANGE)}").get_data(as_text=True)
    assert refills["s2_late_10"].last_name in html and "days late" in html


def test_drill_down_csv_follows_the_export_names_rule(as_role, refills):
    url = f"/quality/patients.csv?{query(metric='refills', outcome='late', **RANGE)}"
    nurse_rows, admin_rows = table(as_role("nurse").get(url)), table(as_role("admin").get(url))
    late = refills["s2_late_10"]
    assert nurse_rows[0][:3] == ["mrn", "last_name", "first_name"] and len(nurse_rows) == 4
    assert any(row[0] == late.mrn and row[1] == late.last_name for row in nurse_rows)
    assert admin_rows[0][:2] == ["mrn", "location"] and len(admin_rows) == 4
    assert late.mrn in str(admin_rows) and late.last_name not in str(admin_rows)
    # On screen every role sees the patients (all have patient.view).
    assert late.last_name in as_role("admin").get(url.replace("patients.csv", "patients")).get_data(as_text=True)


def book_with_override(session, world, patient, day):
    """A physician books the refill at 10:00 on `day`, overriding the alarm-date rule."""
    book_refill(
        session,
        world.actor("physician"),
        patient.id,
        datetime.combine(day, time(10), CLINIC_ZONE),
        world.clinic.id,
        world.users["nurse"].id,
        "Transport",
        "Checked with the patient",
        datetime.now(UTC),
    )


def test_late_pumps_now_match_the_worklist_and_the_model(as_role, world, session):
    not_booked = implanted_days_ago(session, world, 28)  # due 5 days ago (6 across a daylight saving change)
    booked = implanted_days_ago(session, world, 45)  # due about 22 days ago, empty since day 33: a physician books
    book_with_override(session, world, booked, TODAY + timedelta(days=1))
    implanted_days_ago(session, world, 5)  # not due yet
    coordinator = as_role("coordinator")
    summary = {row[0]: row[1] for row in table(coordinator.get("/quality/export.csv"))}
    assert (
        summary["late pumps: overdue, past the alarm date or projected empty (today)"]
        == str(late_count(session, TODAY))
        == "2"
    )
    assert summary["late pumps, booked (every booking of a late pump is late) (today)"] == "1"
    assert table(coordinator.get("/quality/export.csv?table=late_now")) == [
        ["status", "pumps", "booked_late", "not_booked"],
        ["Pump projected empty", "1", "1", "0"],
        ["Past the low-reservoir alarm date", "0", "0", "0"],
        ["Refill overdue", "1", "0", "1"],
        ["Every late pump", "2", "1", "1"],
    ]
    late = table(coordinator.get("/quality/export.csv?table=days_late"))
    assert [row[2] for row in late[1:]] == ["0", "1", "0", "1"]
    html = coordinator.get("/quality/patients?metric=overdue&booked=no").get_data(as_text=True)
    assert not_booked.mrn in html and booked.mrn not in html
    html = coordinator.get("/quality/patients?metric=overdue&status=empty&booked=yes").get_data(as_text=True)
    assert booked.mrn in html and not_booked.mrn not in html and "booked after the pump runs empty" in html
    assert not_booked.mrn in coordinator.get("/worklist").get_data(as_text=True)


def test_a_booked_pump_past_its_alarm_date_counts_as_late_and_booked_never_as_fine(as_role, world, session):
    # Alarm on day 30 (yesterday), empty on day 33: booked for tomorrow, before it runs empty but after the alarm.
    patient = implanted_days_ago(session, world, 31)
    book_with_override(session, world, patient, TODAY + timedelta(days=1))
    lead = as_role("physician")
    rows = {row[0]: row[1:] for row in table(lead.get("/quality/export.csv?table=late_now"))}
    assert rows[LABELS[PAST_ALARM]] == ["1", "1", "0"]
    assert rows["Every late pump"] == ["1", "1", "0"] and late_count(session, TODAY) == 1
    for args in ("status=past_alarm&booked=yes", "booked=yes", ""):
        html = lead.get(f"/quality/patients?metric=overdue&{args}").get_data(as_text=True)
        assert patient.mrn in html and "booked after the alarm date" in html
    for args in ("booked=no", "status=overdue", "status=empty"):
        assert patient.mrn not in lead.get(f"/quality/patients?metric=overdue&{args}").get_data(as_text=True)
    page = lead.get("/quality").get_data(as_text=True)
    assert "1 booked late" in page and "metric=overdue&amp;status=past_alarm&amp;booked=yes" in page


def test_patients_per_stage_and_median_days_ignore_the_date_range(as_role, world, session):
    for days in (10, 20, 30):
        make_patient(session, world, referred_days_ago=days)
    gone = make_patient(session, world, referred_days_ago=5)
    move(session, world, gone, "exit:declined")
    rows = table(as_role("nurse").get("/quality/export.csv?table=stages&from=2001-01-01&to=2001-02-01"))
    assert rows[1] == ["Evaluation", "3", "20"]
    page = as_role("nurse").get("/quality").get_data(as_text=True)
    assert "/patients?stage=evaluation&amp;location=&amp;status=active&amp;sort=days" in page


def test_trial_to_implant_conversion_counts_trials_entered_in_the_range(as_role, world, session):
    implanted = implanted_days_ago(session, world, 30)  # trial entered 40 days ago, implanted 30 days ago
    failed = make_patient(session, world, referred_days_ago=60)
    move(session, world, failed, "trial", days_ago=20)
    move(session, world, failed, "exit:trial_failed", days_ago=10)
    running = make_patient(session, world, referred_days_ago=60)
    move(session, world, running, "trial", days_ago=5)
    implanted_days_ago(session, world, 400)  # its trial was before the range
    since = (TODAY - timedelta(days=100)).isoformat()
    rows = table(as_role("nurse").get(f"/quality/export.csv?table=conversion&from={since}&to={TODAY}"))
    assert rows[1:] == [
        ["Implanted", "1", "33.3"],
        ["Back to evaluation", "0", "0.0"],
        ["Left the programme (trial failed, declined, other exit)", "1", "33.3"],
        ["Still in trial", "1", "33.3"],
        ["Entered trial in the range (cohort)", "3", "100.0"],
    ]
    html = (
        as_role("nurse").get(f"/quality/patients?metric=trials&outcome=implanted&from={since}").get_data(as_text=True)
    )
    assert implanted.mrn in html and failed.mrn not in html and running.mrn not in html


def test_battery_replacements_due_within_six_months_as_the_model_judges_them(as_role, world, session):
    soon, later, past, eri = (implanted_days_ago(session, world, 5) for _ in range(4))
    for patient, due in (
        (soon, TODAY + timedelta(days=30)),
        (later, TODAY + timedelta(days=400)),
        (past, TODAY - timedelta(days=1)),
        (eri, TODAY + timedelta(days=400)),
    ):
        session.get(Pump, current_pump(session, patient.id).id).battery_replacement_due = due
    session.get(Pump, current_pump(session, eri.id).id).eri_on = TODAY - timedelta(days=2)
    session.commit()
    nurse = as_role("nurse")
    summary = {row[0]: row[1] for row in table(nurse.get("/quality/export.csv"))}
    assert summary["battery replacements due within 6 months (today)"] == "3"
    rows = table(nurse.get("/quality/export.csv?table=batteries"))
    assert rows[1:3] == [[LABELS[BATTERY_ERI], "1"], [LABELS[BATTERY_PAST_DUE], "1"]]
    assert sum(int(n) for _, n in rows[3:]) == 1

    def listed(month="") -> set[str]:
        html = nurse.get(f"/quality/patients?metric=batteries&month={month}").get_data(as_text=True)
        return {name for name, p in (("soon", soon), ("later", later), ("past", past), ("eri", eri)) if p.mrn in html}

    assert listed() == {"soon", "past", "eri"}
    assert listed(BATTERY_ERI) == {"eri"} and listed(BATTERY_PAST_DUE) == {"past"}
    assert listed(f"{TODAY + timedelta(days=30):%Y-%m}") == {"soon"}


def test_bad_filters_are_refused_or_ignored_never_a_server_error(as_role):
    nurse = as_role("nurse")
    assert nurse.get("/quality?from=banana&to=2025-13-40&location=-1").status_code == 200
    assert nurse.get("/quality?from=2025-06-01&to=2024-01-01").status_code == 200  # swapped, not refused
    assert nurse.get("/quality/export.csv?table=nope").status_code == 404
    assert nurse.get("/quality/patients?metric=refills&outcome=nope").status_code == 404
    assert nurse.get("/quality/patients?metric=refills&month=2025-99").status_code == 404
    assert nurse.get("/quality/patients?metric=nope").status_code == 302


def test_csv_cells_that_look_like_formulas_are_defused(as_role, world, session):
    world.clinic.name = '=HYPERLINK("http://evil")'
    session.commit()
    implanted_days_ago(session, world, 28)
    rows = table(as_role("nurse").get("/quality/patients.csv?metric=overdue"))
    assert rows[1][3].startswith("'=HYPERLINK")


@pytest.mark.slow
def test_the_dashboard_reads_in_the_same_number_of_queries_for_10_and_200_patients(session, world, as_role, clinic_of):  # noqa: F811
    urls = [
        "/quality",
        f"/quality?location={world.clinic.id}",
        "/quality/export.csv?table=on_time_by_month",
        "/quality/patients?metric=refills&outcome=on_time",
    ]
    clinic_of(10, 21)
    lead = as_role("physician")
    small = [statements(lead, url) for url in urls]
    clinic_of(190, 22)
    assert session.scalar(select(Patient.id).order_by(Patient.id.desc()).limit(1))
    assert [statements(lead, url) for url in urls] == small
    assert small[0] <= 12, small
