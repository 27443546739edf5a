"""The refill what-if calculator, through the page and through `flask refill-calc`."""

import json
import re
from datetime import UTC, date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.support.factories import TODAY, implanted_days_ago
from tracker.clinic_zone import clinic_zone_name, local_date, start_of_day
from tracker.clinical.refill import DoseProgramme, RefillInputs, project_refill
from tracker.formats import fmt_date
from tracker.models import RefillSchedule, Setting
from tracker.services.refills import Programme

EXAMPLE_40 = {
    "reservoir_ml": "40",
    "fill_volume_ml": "40",
    "concentration_mcg_per_ml": "2000",
    "dose_mcg_per_day": "400",
    "alarm_volume_ml": "2",
    "buffer_days": "7",
    "stability_days": "180",
    "fill_date": "2027-01-01",
}
EXAMPLE_20 = EXAMPLE_40 | {
    "reservoir_ml": "20",
    "fill_volume_ml": "20",
    "concentration_mcg_per_ml": "500",
    "dose_mcg_per_day": "300",
}
# The PTM patient of issue 17: 200 mcg/day plus up to 4 boluses of 25 mcg a day (due day 23, not day 38).
PTM = EXAMPLE_20 | {"dose_mcg_per_day": "200", "bolus_dose_mcg": "25", "max_boluses_per_day": "4"}
OPTIONS = {
    "reservoir_ml": "--reservoir",
    "fill_volume_ml": "--fill-volume",
    "concentration_mcg_per_ml": "--concentration",
    "dose_mcg_per_day": "--dose",
    "alarm_volume_ml": "--alarm-volume",
    "buffer_days": "--buffer-days",
    "stability_days": "--stability-days",
    "fill_date": "--fill-date",
    "fill_time": "--fill-time",
    "flex_schedule": "--flex",
    "bolus_dose_mcg": "--bolus",
    "max_boluses_per_day": "--max-boluses",
    "previous_concentration_mcg_per_ml": "--previous-concentration",
}


def alarm_40() -> date:
    """The 40 mL example's alarm: 190 days (of 24 h) after the fill at midnight, a day in the clinic zone. Where the
    clocks go back in between (Auckland in April) that instant is 23:00 on day 189."""
    return local_date(start_of_day(date(2027, 1, 1)).astimezone(UTC) + timedelta(days=190))


def text(response) -> str:
    return response.get_data(as_text=True)


def squash(html: str) -> str:
    return re.sub(r"\s+", " ", html)


def cli_args(values: dict) -> list[str]:
    args = ["refill-calc"]
    for name, value in values.items():
        args += [OPTIONS[name], value]
    return args


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# the page


def test_the_page_starts_from_sensible_defaults_and_todays_date(as_role):
    page = text(as_role("coordinator").get("/calculator/"))
    assert '<form method="get"' in page
    for name, value in [
        ("reservoir_ml", "20"),
        ("fill_volume_ml", "20"),
        ("concentration_mcg_per_ml", "500"),
        ("dose_mcg_per_day", "300"),
        ("alarm_volume_ml", "2"),
        ("buffer_days", "7"),
        ("stability_days", "180"),
        ("fill_date", TODAY.isoformat()),
    ]:
        assert re.search(rf'name="{name}"[^>]*value="{value}"', page), name
    assert "Refill due" not in page


def test_the_buffer_starts_from_the_clinics_setting(as_role, session):
    session.add(Setting(name="safety_buffer_days", value="10"))
    session.commit()
    assert re.search(r'name="buffer_days"[^>]*value="10"', text(as_role("nurse").get("/calculator/")))


def test_the_page_shows_stability_binding_for_the_40_ml_example(as_role):
    response = as_role("nurse").get("/calculator/", query_string=EXAMPLE_40)
    page = squash(text(response))
    assert response.status_code == 200
    assert '<p class="calc-due">30 Jun 2027</p>' in page
    assert "Day 180 after the fill on 1 Jan 2027 · drug stability limit" in page
    assert "Due 30 Jun 2027: the 180-day drug limit" in page
    assert "0.2 mL/day" in page
    alarm = alarm_40()
    assert f'{fmt_date(alarm)} <span class="muted">(day {(alarm - date(2027, 1, 1)).days})</span>' in page


def test_the_page_shows_alarm_binding_for_the_20_ml_example(as_role):
    response = as_role("physician").get("/calculator/", query_string=EXAMPLE_20)
    page = squash(text(response))
    assert response.status_code == 200
    assert '<p class="calc-due">24 Jan 2027</p>' in page
    assert "Day 23 after the fill" in page and "alarm minus buffer" in page
    assert "0.6 mL/day" in page
    assert '31 Jan 2027 <span class="muted">(day 30)</span>' in page
    assert "3 Feb 2027" in page  # empty
    assert "30 Jun 2027" in page  # drug stability
    assert 'value="500"' in page, "the form keeps what was typed"


def test_a_fill_due_at_once_shows_the_warning(as_role):
    page = text(as_role("nurse").get("/calculator/", query_string=EXAMPLE_20 | {"fill_volume_ml": "5"}))
    assert 'class="flash warning severity-high"' in page
    assert "A refill would be due on the fill date itself" in page


def engine_due(fill_date: date, dose: str, bolus: str = "0", boluses: int = 0) -> date:
    """The refill engine itself on the same inputs (20 mL at 500 mcg/mL, alarm 2 mL, 7-day buffer, 180 days)."""
    return project_refill(
        RefillInputs(
            fill_time=fill_date,
            reservoir_after_fill_ml=20,
            reservoir_capacity_ml=20,
            concentration_mcg_per_ml=500,
            doses=DoseProgramme(daily_dose_mcg=dose, bolus_dose_mcg=bolus, max_boluses_per_day=boluses),
            alarm_volume_ml=2,
            buffer_days=7,
            stability_days=180,
            tz=clinic_zone_name(),
        )
    ).due_date


def due_on_page(page: str) -> str:
    return re.search(r'<p class="calc-due">([^<]+)</p>', page).group(1)


def test_the_ptm_example_has_one_due_date_on_the_page_in_the_cli_and_in_the_engine(as_role, runner):
    # 300 mcg/day with the boluses: 0.6 mL/day, 18 mL to the alarm = day 30, due day 23 (24 Jan 2027).
    page = squash(text(as_role("nurse").get("/calculator/", query_string=PTM)))
    cli = json.loads(runner.invoke(args=cli_args(PTM)).output)
    truth = engine_due(date(2027, 1, 1), "200", "25", 4)
    assert truth == date(2027, 1, 24)
    assert due_on_page(page) == fmt_date(truth) and cli["due_date"] == truth.isoformat()
    assert "0.6 mL/day" in page and cli["daily_volume_ml"] == "0.6"
    note = "The dates include every permitted bolus (up to 4 of 25 mcg a day)"
    assert note in page and note in cli["warnings"][0]["message"]
    # Entered as 200 mcg/day alone: 0.4 mL/day, due day 38 (8 Feb), 15 days late, and nothing about boluses.
    alone = squash(text(as_role("nurse").get("/calculator/", query_string=EXAMPLE_20 | {"dose_mcg_per_day": "200"})))
    assert due_on_page(alone) == fmt_date(engine_due(date(2027, 1, 1), "200")) == "8 Feb 2027"
    assert "bolus" not in alone.split('class="calc-result')[1]


def test_the_page_gives_the_date_the_patients_own_schedule_has(as_role, session, world):
    patient = implanted_days_ago(session, world, 10, programme=Programme(Decimal(200), Decimal(25), 4))
    stored = session.scalar(select(RefillSchedule).where(RefillSchedule.patient_id == patient.id))
    fill = local_date(stored.fill_at)
    page = squash(text(as_role("nurse").get("/calculator/", query_string=PTM | {"fill_date": fill.isoformat()})))
    assert stored.due_date == engine_due(fill, "200", "25", 4)
    assert due_on_page(page) == fmt_date(stored.due_date)
    assert fmt_date(stored.alarm_date) in page and fmt_date(stored.empty_date) in page


def test_the_page_takes_a_weekend_schedule_and_a_fill_time(as_role):
    # tests/clinical/test_what_if: filled Saturday 9 Jan 2027 at 18:00, alarm Thu 4 Feb, due 28 Jan.
    query = EXAMPLE_20 | {
        "fill_volume_ml": "18",
        "dose_mcg_per_day": "",
        "fill_date": "2027-01-09",
        "fill_time": "18:00",
        "flex_schedule": "00:00 10\r\nSat Sun: 00:00 20",
    }
    response = as_role("nurse").get("/calculator/", query_string=query)
    page = squash(text(response))
    assert response.status_code == 200
    assert due_on_page(page) == "28 Jan 2027"
    assert "Day 19 after the fill on 9 Jan 2027 at 18:00" in page
    assert "4 Feb 2027" in page
    assert "00:00 10\r\nSat Sun: 00:00 20</textarea>" in text(response), "the schedule is kept as typed"


def test_the_page_shows_the_bridge_bolus_warning(as_role):
    page = text(
        as_role("nurse").get("/calculator/", query_string=EXAMPLE_20 | {"previous_concentration_mcg_per_ml": "1000"})
    )
    assert (
        '<p class="flash warning severity-high" role="alert">Concentration changes from 1000 to 500 mcg/mL: '
        "a bridge bolus is required.</p>"
    ) in page


def test_the_page_warns_on_the_clinics_usual_dose_range(as_role, session):
    session.add(Setting(name="usual_dose_max_mcg_per_day", value="250"))
    session.commit()
    page = text(as_role("nurse").get("/calculator/", query_string=EXAMPLE_20))
    assert "Daily dose 300 mcg is above the usual 20-250 mcg/day" in page


PAGE_REFUSALS = [
    ("overfill", {"fill_volume_ml": "21"}, "fill_volume_ml", "21 mL is more than the 20 mL reservoir holds"),
    ("dose 0", {"dose_mcg_per_day": "0"}, "dose_mcg_per_day", "Daily dose must be more than 0 mcg/day."),
    (
        "concentration 0",
        {"concentration_mcg_per_ml": "0"},
        "concentration_mcg_per_ml",
        "Concentration must be more than 0 mcg/mL.",
    ),
    ("impossible date", {"fill_date": "2027-02-31"}, "fill_date", "Not a valid date"),
    (
        "no dose and no schedule",
        {"dose_mcg_per_day": ""},
        "dose_mcg_per_day",
        "Give either a daily dose or a flexible schedule, not both or neither.",
    ),
    ("words for a number", {"reservoir_ml": "twenty"}, "reservoir_ml", "Not a valid decimal value"),
    ("NaN", {"alarm_volume_ml": "NaN"}, "alarm_volume_ml", "Alarm volume is not a number"),
    ("fractional buffer", {"buffer_days": "7.5"}, "buffer_days", "Not a valid integer value"),
    ("stability over a year", {"stability_days": "400"}, "stability_days", "from 1 to 365 days"),
    ("date at the end of time", {"fill_date": "9999-12-31"}, "fill_date", "Fill date must be from"),
    ("10,000-digit number", {"dose_mcg_per_day": "9" * 10_000}, "dose_mcg_per_day", "from 0.01 to 5000"),
    ("a dose and a schedule", {"flex_schedule": "00:00 10"}, "dose_mcg_per_day", "not both or neither"),
    (
        "a schedule in words",
        {"dose_mcg_per_day": "", "flex_schedule": "06:00 twelve"},
        "flex_schedule",
        "&#39;06:00 twelve&#39; is not a step",
    ),
    (
        "a weekend from 06:00",
        {"dose_mcg_per_day": "", "flex_schedule": "00:00 10\nSat: 06:00 5"},
        "flex_schedule",
        "Saturday&#39;s own steps must begin at 00:00",
    ),
    (
        "weekdays only",
        {"dose_mcg_per_day": "", "flex_schedule": "Mon-Fri: 00:00 10"},
        "flex_schedule",
        "Give an everyday schedule before the day names",
    ),
    (
        "an essay for a schedule",
        {"dose_mcg_per_day": "", "flex_schedule": "00:00 5\n" * 400},
        "flex_schedule",
        "at most 2000 characters",
    ),
    ("25 o'clock", {"fill_time": "25:00"}, "fill_time", "Not a valid time value"),
    ("bolus without a count", {"bolus_dose_mcg": "25"}, "max_boluses_per_day", "Enter the maximum boluses a day"),
    ("count without a bolus", {"max_boluses_per_day": "4"}, "bolus_dose_mcg", "Enter the bolus dose too."),
    (
        "30 boluses a day",
        {"bolus_dose_mcg": "5", "max_boluses_per_day": "30"},
        "max_boluses_per_day",
        "Boluses a day must be from 0 to 24.",
    ),
    (
        "previous concentration in words",
        {"previous_concentration_mcg_per_ml": "same"},
        "previous_concentration_mcg_per_ml",
        "Not a valid integer value",
    ),
]


@pytest.mark.parametrize("case, changes, field, message", PAGE_REFUSALS, ids=[c[0] for c in PAGE_REFUSALS])
def test_bad_input_gets_a_message_beside_its_field_and_no_result(as_role, case, changes, field, message):
    response = as_role("nurse").get("/calculator/", query_string=EXAMPLE_20 | changes)
    page = text(response)
    assert response.status_code == 422
    assert message in page
    assert f'id="{field}-error"' in page, "the error is shown beside its field"
    assert "Refill due" not in page
    assert "Correct the highlighted fields" in page
    assert 'value="20"' in page and 'name="reservoir_ml"' in page, "what was typed is kept"


def test_every_wrong_field_is_marked_at_once_and_the_typed_values_stay(as_role):
    query = EXAMPLE_20 | {
        "fill_time": "noon",
        "flex_schedule": "Funday: 00:00 5",
        "bolus_dose_mcg": "-1",
        "max_boluses_per_day": "many",
        "previous_concentration_mcg_per_ml": "0",
    }
    response = as_role("nurse").get("/calculator/", query_string=query)
    page = text(response)
    assert response.status_code == 422
    for field in (
        "fill_time",
        "flex_schedule",
        "bolus_dose_mcg",
        "max_boluses_per_day",
        "previous_concentration_mcg_per_ml",
    ):
        assert f'id="{field}-error"' in page, field
    assert "Funday: 00:00 5</textarea>" in page and 'value="noon"' in page and 'value="many"' in page


def test_a_half_filled_query_string_is_a_form_error_not_a_crash(as_role):
    response = as_role("nurse").get("/calculator/?dose_mcg_per_day=300")
    assert response.status_code == 422
    assert 'id="fill_date-error"' in text(response)


@pytest.mark.parametrize("role", ["nurse", "coordinator", "physician", "admin"])
def test_every_role_may_use_the_calculator(as_role, role):
    assert as_role(role).get("/calculator/", query_string=EXAMPLE_20).status_code == 200


def test_anonymous_users_are_sent_to_sign_in(client):
    response = client.get("/calculator/", query_string=EXAMPLE_20)
    assert response.status_code == 302
    assert response.location.startswith("/login")


# the command


def test_cli_40_ml_example_binds_on_drug_stability(runner):
    result = runner.invoke(args=cli_args(EXAMPLE_40))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["daily_volume_ml"] == "0.2"
    alarm = alarm_40()  # 10 Jul 2027, day 190, in New York
    assert data["days_to_alarm"] == (alarm - date(2027, 1, 1)).days and data["alarm_date"] == alarm.isoformat()
    assert data["binding_rule"] == "stability"
    assert data["due_date"] == data["stability_date"] == "2027-06-30"


def test_cli_20_ml_example_binds_on_the_alarm_minus_buffer(runner):
    result = runner.invoke(args=cli_args(EXAMPLE_20))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["daily_volume_ml"], data["alarm_date"], data["due_date"], data["binding_rule"]) == (
        "0.6",
        "2027-01-31",
        "2027-01-24",
        "alarm",
    )
    assert data["warnings"] == []
    assert result.output.startswith('{\n  "fill_date": "2027-01-01",'), "indented JSON"


def test_cli_prints_warnings(runner):
    result = runner.invoke(args=cli_args(EXAMPLE_20 | {"dose_mcg_per_day": "10"}))
    assert result.exit_code == 0, result.output
    assert [w["code"] for w in json.loads(result.output)["warnings"]] == ["dose_range"]


def test_cli_defaults_to_today_and_the_clinics_buffer(runner, session):
    session.add(Setting(name="safety_buffer_days", value="10"))
    session.commit()
    values = {k: v for k, v in EXAMPLE_20.items() if k not in ("fill_date", "buffer_days")}
    result = runner.invoke(args=cli_args(values))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["fill_date"] == TODAY.isoformat()
    assert "the 10-day buffer" in data["explanation"]


def test_cli_takes_a_schedule_a_fill_time_boluses_and_the_previous_concentration(runner):
    values = EXAMPLE_20 | {
        "fill_volume_ml": "18",
        "fill_date": "2027-01-09",
        "fill_time": "18:00",
        "flex_schedule": "00:00 10; Sat Sun: 00:00 20",
        "previous_concentration_mcg_per_ml": "1000",
    }
    del values["dose_mcg_per_day"]
    result = runner.invoke(args=cli_args(values))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["alarm_date"], data["due_date"]) == ("2027-02-04", "2027-01-28")
    assert [w["code"] for w in data["warnings"]] == ["bridge_bolus"]
    assert set(data) == {
        "fill_date",
        "daily_volume_ml",
        "days_to_alarm",
        "alarm_date",
        "empty_date",
        "stability_date",
        "due_date",
        "binding_rule",
        "explanation",
        "warnings",
    }


CLI_REFUSALS = [
    ("overfill", {"fill_volume_ml": "21"}, "21 mL is more than the 20 mL reservoir holds; never overfill."),
    ("dose 0", {"dose_mcg_per_day": "0"}, "Daily dose must be more than 0 mcg/day."),
    ("concentration 0", {"concentration_mcg_per_ml": "0"}, "Concentration must be more than 0 mcg/mL."),
    ("impossible date", {"fill_date": "2027-02-31"}, "Fill date 2027-02-31 is not a real date."),
    ("words for a number", {"reservoir_ml": "twenty"}, "Reservoir is not a number: 'twenty'."),
    (
        "a dose and a schedule",
        {"flex_schedule": "00:00 10"},
        "Give either a daily dose or a flexible schedule, not both or neither.",
    ),
    (
        "a bolus without a count",
        {"bolus_dose_mcg": "25"},
        "Enter the maximum boluses a day too (0 if the patient may take none).",
    ),
    ("a fill time in words", {"fill_time": "noon"}, "Fill time 'noon' is not a time: use HH:MM (24-hour clock)."),
    (
        "a weekend from 06:00",
        {"dose_mcg_per_day": "", "flex_schedule": "00:00 10; Sat: 06:00 5"},
        "Saturday's own steps must begin at 00:00, so the hours after midnight belong to that day.",
    ),
]


@pytest.mark.parametrize("case, changes, message", CLI_REFUSALS, ids=[c[0] for c in CLI_REFUSALS])
def test_cli_bad_input_exits_1_with_the_message_and_no_traceback(runner, case, changes, message):
    result = runner.invoke(args=cli_args(EXAMPLE_20 | changes))
    assert result.exit_code == 1
    assert f"Error: {message}" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), "a ClickException, not a crash"
