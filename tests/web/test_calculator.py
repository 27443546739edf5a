"""The refill what-if calculator, through the page and through `flask refill-calc`."""

import json
import re
from datetime import UTC, date, timedelta

import pytest

from tests.factories import TODAY
from tracker.clinic_zone import local_date, start_of_day
from tracker.models import Setting

EXAMPLE_40 = {"reservoir_ml": "40", "fill_volume_ml": "40", "concentration_mcg_per_ml": "2000",
              "dose_mcg_per_day": "400", "alarm_volume_ml": "2", "buffer_days": "7", "stability_days": "180",
              "fill_date": "2027-01-01"}
EXAMPLE_20 = EXAMPLE_40 | {"reservoir_ml": "20", "fill_volume_ml": "20", "concentration_mcg_per_ml": "500",
                           "dose_mcg_per_day": "300"}
OPTIONS = {"reservoir_ml": "--reservoir", "fill_volume_ml": "--fill-volume", "concentration_mcg_per_ml":
           "--concentration", "dose_mcg_per_day": "--dose", "alarm_volume_ml": "--alarm-volume",
           "buffer_days": "--buffer-days", "stability_days": "--stability-days", "fill_date": "--fill-date"}


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
    for name, value in [("reservoir_ml", "20"), ("fill_volume_ml", "20"), ("concentration_mcg_per_ml", "500"),
                        ("dose_mcg_per_day", "300"), ("alarm_volume_ml", "2"), ("buffer_days", "7"),
                        ("stability_days", "180"), ("fill_date", TODAY.isoformat())]:
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
    assert "Day 180 after the fill on 01 Jan 2027 · drug stability limit" in page
    assert "Due 30 Jun 2027: the 180-day drug limit" in page
    assert "0.2 mL/day" in page
    alarm = alarm_40()
    assert f"{alarm:%d %b %Y} <span class=\"muted\">(day {(alarm - date(2027, 1, 1)).days})</span>" in page


def test_the_page_shows_alarm_binding_for_the_20_ml_example(as_role):
    response = as_role("physician").get("/calculator/", query_string=EXAMPLE_20)
    page = squash(text(response))
    assert response.status_code == 200
    assert '<p class="calc-due">24 Jan 2027</p>' in page
    assert "Day 23 after the fill" in page and "alarm minus buffer" in page
    assert "0.6 mL/day" in page
    assert "31 Jan 2027 <span class=\"muted\">(day 30)</span>" in page
    assert "03 Feb 2027" in page  # empty
    assert "30 Jun 2027" in page  # drug stability
    assert 'value="500"' in page, "the form keeps what was typed"


def test_a_fill_due_at_once_shows_the_warning(as_role):
    page = text(as_role("nurse").get("/calculator/", query_string=EXAMPLE_20 | {"fill_volume_ml": "5"}))
    assert 'class="flash warning severity-high"' in page
    assert "A refill would be due on the fill date itself" in page


PAGE_REFUSALS = [
    ("overfill", {"fill_volume_ml": "21"}, "fill_volume_ml", "21 mL is more than the 20 mL reservoir holds"),
    ("dose 0", {"dose_mcg_per_day": "0"}, "dose_mcg_per_day", "Daily dose must be more than 0 mcg/day."),
    ("concentration 0", {"concentration_mcg_per_ml": "0"}, "concentration_mcg_per_ml",
     "Concentration must be more than 0 mcg/mL."),
    ("impossible date", {"fill_date": "2027-02-31"}, "fill_date", "Not a valid date"),
    ("no dose and no schedule", {"dose_mcg_per_day": ""}, "dose_mcg_per_day",
     "Give either a daily dose or a flexible schedule, not both or neither."),
    ("words for a number", {"reservoir_ml": "twenty"}, "reservoir_ml", "Not a valid decimal value"),
    ("NaN", {"alarm_volume_ml": "NaN"}, "alarm_volume_ml", "Alarm volume is not a number"),
    ("fractional buffer", {"buffer_days": "7.5"}, "buffer_days", "Not a valid integer value"),
    ("stability over a year", {"stability_days": "400"}, "stability_days", "from 1 to 365 days"),
    ("date at the end of time", {"fill_date": "9999-12-31"}, "fill_date", "Fill date must be from"),
    ("10,000-digit number", {"dose_mcg_per_day": "9" * 10_000}, "dose_mcg_per_day", "from 0.01 to 5000"),
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
        "0.6", "2027-01-31", "2027-01-24", "alarm")
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


CLI_REFUSALS = [
    ("overfill", {"fill_volume_ml": "21"}, "21 mL is more than the 20 mL reservoir holds; never overfill."),
    ("dose 0", {"dose_mcg_per_day": "0"}, "Daily dose must be more than 0 mcg/day."),
    ("concentration 0", {"concentration_mcg_per_ml": "0"}, "Concentration must be more than 0 mcg/mL."),
    ("impossible date", {"fill_date": "2027-02-31"}, "Fill date 2027-02-31 is not a real date."),
    ("words for a number", {"reservoir_ml": "twenty"}, "Reservoir is not a number: 'twenty'."),
]


@pytest.mark.parametrize("case, changes, message", CLI_REFUSALS, ids=[c[0] for c in CLI_REFUSALS])
def test_cli_bad_input_exits_1_with_the_message_and_no_traceback(runner, case, changes, message):
    result = runner.invoke(args=cli_args(EXAMPLE_20 | changes))
    assert result.exit_code == 1
    assert f"Error: {message}" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), "a ClickException, not a crash"
