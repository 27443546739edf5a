"""Reading a patient CSV, without a database: dates, encodings, delimiters, header guesses and row checks."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from tracker.clinical.booking import DEFAULT_BOOKING_TIME
from tracker.clinical.import_cells import Catalogue, DrugInfo, LocationInfo, PumpModelInfo, parse_date
from tracker.clinical.import_columns import COLUMNS
from tracker.clinical.import_rows import check_rows
from tracker.imports.csv_file import Table, decode, read_table, sniff_delimiter
from tracker.imports.template import guess_mapping, headers_match_exactly, template_rows, unused_headers

TODAY = date(2025, 6, 15)
NOW = datetime(2025, 6, 15, 14, 0, tzinfo=UTC)
CATALOGUE = Catalogue(
    locations={
        "kennesaw clinic": LocationInfo(1, "clinic", True),
        "snellville surgery center": LocationInfo(2, "surgery_centre", True),
        "old clinic": LocationInfo(3, "clinic", False),
    },
    nurses={"nurse@example.org": 7},
    pump_models={
        "synchromed ii 40 ml": PumpModelInfo(1, "SynchroMed II 40 mL", Decimal(40), Decimal(2), 84, True),
        "synchromed ii 20 ml": PumpModelInfo(2, "SynchroMed II 20 mL", Decimal(20), Decimal(2), 84, True),
        "prometra 20 ml": PumpModelInfo(3, "Prometra 20 mL", Decimal(20), Decimal(3), None, True),
    },
    drugs={50: DrugInfo(180, True, True), 500: DrugInfo(180, False, True), 2000: DrugInfo(180, False, True)},
    buffer_days=7,
    high_risk_buffer_days=14,
    tz="America/New_York",
)


def example(**overrides) -> dict:
    values = dict(zip(*template_rows(TODAY), strict=True))
    values["primary_nurse_email"] = "nurse@example.org"
    values.update(overrides)
    return values


def table_of(*rows: dict, header: list[str] | None = None, encoding: str = "utf-8") -> Table:
    header = header or [c.name for c in COLUMNS]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[r.get(h, "") for h in header] for r in rows])
    return read_table(out.getvalue().encode(encoding))


def checked(*rows: dict, header: list[str] | None = None):
    table = table_of(*rows, header=header)
    return check_rows(table, guess_mapping(table.headers), CATALOGUE, TODAY, NOW)


def only_issue(*rows: dict) -> tuple:
    _, issues = checked(*rows)
    assert len(issues) == 1, issues
    return issues[0].line, issues[0].column, issues[0].value, issues[0].message


# Dates -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["2020-02-29", "02/29/2020", "2/29/2020", "2020-2-29"])
def test_iso_and_us_dates_are_read(text):
    assert parse_date(text) == date(2020, 2, 29)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("02/30/2020", "not a real date"),
        ("2021-02-29", "not a real date"),
        ("29/02/2020", "not a real date"),
        ("29.02.2020", "not a date"),
        ("2020/02/29", "not a date"),
        ("02/29/20", "not a date"),
        ("yesterday", "not a date"),
        ("1850-01-01", "before 1900"),
    ],
)
def test_impossible_or_ambiguous_dates_are_refused_with_the_reason(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_date(text)


# Encodings and delimiters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "encoding, name", [("utf-8-sig", "UTF-8 with BOM"), ("utf-8", "UTF-8"), ("cp1252", "Windows-1252")]
)
def test_pena_survives_every_accepted_encoding(encoding, name):
    text, found, issues = decode("mrn,last_name\r\n1,Peña ’quoted’\r\n".encode(encoding))
    assert (found, issues) == (name, [])
    assert "Peña ’quoted’" in text and not text.startswith("\ufeff")


def test_utf16_and_binary_files_are_refused_as_the_wrong_encoding():
    for data in ("mrn\r\n1\r\n".encode("utf-16"), b"PK\x03\x04\x00\x00binary"):
        _, _, issues = decode(data)
        assert len(issues) == 1 and "UTF-16" in issues[0].message and issues[0].line == 1


def test_a_stray_windows_byte_in_a_utf8_file_is_reported_in_its_cell():
    good = table_of(example(mrn="1", last_name="Peña"), example(mrn="2", last_name="Pena"))
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([good.headers] + [cells for _, cells in good.rows])
    table = read_table(out.getvalue().encode().replace(b"Pena", b"Pe\xf1a"))
    assert table.encoding == "UTF-8 (with invalid bytes)"
    _, issues = check_rows(table, guess_mapping(table.headers), CATALOGUE, TODAY, NOW)
    wrong = [i for i in issues if "Wrong encoding" in i.message]
    assert [(i.line, i.column) for i in wrong] == [(3, "last_name")]


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_the_delimiter_is_sniffed(delimiter):
    text = delimiter.join(["mrn", "first_name", "last_name"]) + "\r\n" + delimiter.join(["1", "Ada", "Peña"])
    assert sniff_delimiter(text) == delimiter


def test_line_numbers_are_the_files_own_across_blank_lines_and_multiline_cells():
    data = b'mrn,first_name\r\n\r\nA1,"Two\r\nlines"\r\nA2,Ada\r\n'
    table = read_table(data)
    assert [line for line, _ in table.rows] == [3, 5]


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"\r\n \r\n", "empty"),
        (b"mrn,first_name\r\n", "only a header"),
        (b"mrn," + b"x" * 200_000 + b"\r\n", "cannot be read as CSV"),
    ],
)
def test_files_with_nothing_to_import_say_why(data, message):
    assert message in read_table(data).issues[0].message


# Header mapping --------------------------------------------------------------------------------------------------


def test_common_header_names_are_guessed():
    headers = [
        "Medical Record Number",
        "DOB",
        "Surname",
        " First Name ",
        "Current stage",
        "Pump",
        "Dose",
        "Concentration",
        "Next appointment",
        "Notes",
    ]
    mapping = guess_mapping(headers)
    assert {name: headers[i] for name, i in mapping.items() if i is not None} == {
        "mrn": "Medical Record Number",
        "date_of_birth": "DOB",
        "last_name": "Surname",
        "first_name": " First Name ",
        "stage": "Current stage",
        "pump_model": "Pump",
        "daily_dose_mcg": "Dose",
        "concentration_mcg_per_ml": "Concentration",
        "next_refill_date": "Next appointment",
    }
    assert unused_headers(headers, mapping) == ["Notes"]
    assert not headers_match_exactly(headers)
    assert headers_match_exactly([c.name.upper() for c in COLUMNS])


# Rows ------------------------------------------------------------------------------------------------------------


def test_the_templates_example_row_is_valid_and_due_by_the_drug_limit():
    rows, issues = checked(example())
    assert issues == []
    (row,) = rows
    assert (row.last_name, row.stage, row.pump_model.name, row.alarm_volume_ml) == (
        "Peña",
        "adjustment",
        "SynchroMed II 40 mL",
        Decimal(2),
    )
    # 40 mL, 2000 mcg/mL, 400 mcg/day, alarm 2 mL: 190 days to alarm, the 180-day stability limit binds.
    assert row.projection.binding_rule == "stability"
    assert row.projection.due_date == TODAY - timedelta(days=30) + timedelta(days=180)
    assert row.next_refill_at.hour == 10 and row.next_refill_at.minute == 30


def test_domain_example_20ml_pump_is_due_on_day_23():
    fill = TODAY - timedelta(days=1)
    rows, _ = checked(
        example(
            pump_model="SynchroMed II 20 mL",
            last_refill_volume_ml="20",
            concentration_mcg_per_ml="500",
            daily_dose_mcg="300",
            last_refill_date=fill.isoformat(),
            next_refill_date="",
        )
    )
    assert rows[0].projection.due_date == fill + timedelta(days=23)


ROW_ERRORS = {
    "impossible date": ({"date_of_birth": "02/30/1968"}, "date_of_birth", "02/30/1968", "not a real date"),
    "unknown stage": ({"stage": "titrating"}, "stage", "titrating", "Unknown value"),
    "exited is not imported": ({"stage": "Exited"}, "stage", "Exited", "record exits in the app"),
    "fill above reservoir": (
        {"last_refill_volume_ml": "40.5"},
        "last_refill_volume_ml",
        "40.5",
        "more than the 40 mL reservoir",
    ),
    "alarm above reservoir": ({"alarm_volume_ml": "41"}, "alarm_volume_ml", "41", "below the 40 mL reservoir"),
    "negative dose": ({"daily_dose_mcg": "-5"}, "daily_dose_mcg", "-5", "negative"),
    "zero dose": ({"daily_dose_mcg": "0"}, "daily_dose_mcg", "0", "more than 0"),
    "dose with a unit": ({"daily_dose_mcg": "400 mcg"}, "daily_dose_mcg", "400 mcg", "Not a number"),
    "too many decimals": ({"last_refill_volume_ml": "20.1234"}, "last_refill_volume_ml", "20.1234", "decimal"),
    "refill in the future": ({"last_refill_date": "2025-06-16"}, "last_refill_date", "2025-06-16", "future"),
    "refill before implant": (
        {"last_refill_date": "2019-05-19"},
        "last_refill_date",
        "2019-05-19",
        "before the implant",
    ),
    "inactive location": ({"location": "Old Clinic"}, "location", "Old Clinic", "No active location"),
    "clinic as surgery centre": (
        {"surgery_centre": "Kennesaw Clinic"},
        "surgery_centre",
        "Kennesaw Clinic",
        "not a surgery centre",
    ),
    "unknown pump": ({"pump_model": "Acme 9000"}, "pump_model", "Acme 9000", "Unknown pump model"),
    "trial concentration": ({"concentration_mcg_per_ml": "50"}, "concentration_mcg_per_ml", "50", "Not a pump"),
    "risk without reason": ({"withdrawal_risk": "yes"}, "withdrawal_risk_reason", "", "Required when"),
    "booking in the past": (
        {"next_refill_date": "2025-06-15", "next_refill_time": "09:00"},
        "next_refill_date",
        "2025-06-15",
        "in the future",
    ),
    "bad booking time": ({"next_refill_time": "25:00"}, "next_refill_time", "25:00", "Not a time"),
    "booking after the due date": ({"next_refill_date": "2025-11-15"}, "next_refill_date", "2025-11-15", "say why"),
    "trial without its date": (
        {
            "stage": "trial",
            "stage_since": "",
            **{
                c: ""
                for c in (
                    "pump_model",
                    "pump_serial",
                    "implanted_on",
                    "surgery_centre",
                    "catheter_tip_level",
                    "alarm_volume_ml",
                    "last_refill_date",
                    "last_refill_volume_ml",
                    "concentration_mcg_per_ml",
                    "daily_dose_mcg",
                    "next_refill_date",
                    "next_refill_time",
                )
            },
        },
        "stage_since",
        "",
        "Required for a patient in trial",
    ),
    "mrn too long": ({"mrn": "M" * 41}, "mrn", "M" * 41, "Too long"),
}


@pytest.mark.parametrize("name", list(ROW_ERRORS))
def test_each_kind_of_bad_cell_is_named_by_line_column_and_value(name):
    changes, column, value, message = ROW_ERRORS[name]
    line, found_column, found_value, found_message = only_issue(example(**changes))
    assert (line, found_column) == (2, column)
    assert found_value.rstrip("…") == value[:60] or found_value == value
    assert message in found_message, found_message


def test_a_late_booking_with_a_reason_is_accepted():
    rows, issues = checked(example(next_refill_date="2025-11-15", next_refill_late_reason="Patient travelling"))
    assert issues == [] and rows[0].next_refill_late_reason == "Patient travelling"


def test_a_duplicate_mrn_names_the_first_line_it_appeared_on():
    issues = checked(example(mrn="ab12"), example(mrn="X9"), example(mrn=" AB12 "))[1]
    assert [(i.line, i.column, i.value, i.message) for i in issues] == [
        (4, "mrn", "AB12", "Duplicate MRN: also on line 2. Each patient appears once.")
    ]


def test_a_missing_required_column_is_one_issue_on_the_header_line():
    header = [c.name for c in COLUMNS if c.name != "referral_date"]
    rows, issues = checked(example(), example(mrn="2"), header=header)
    assert rows == [] and [(i.line, i.column) for i in issues] == [(1, "referral_date")]


def test_the_files_own_header_names_appear_in_the_issues():
    header = [
        "Medical record number" if c.name == "mrn" else "DOB" if c.name == "date_of_birth" else c.name for c in COLUMNS
    ]
    values = example(date_of_birth="13/13/1990")
    values["DOB"] = values.pop("date_of_birth")
    values["Medical record number"] = values.pop("mrn")
    _, issues = checked(values, header=header)
    assert [(i.line, i.column, i.value) for i in issues] == [(2, "DOB", "13/13/1990")]


def test_an_evaluation_patient_needs_no_pump_columns_but_refuses_stray_pump_data():
    empty = {
        c: ""
        for c in (
            "pump_model",
            "pump_serial",
            "implanted_on",
            "surgery_centre",
            "catheter_tip_level",
            "alarm_volume_ml",
            "last_refill_date",
            "last_refill_volume_ml",
            "concentration_mcg_per_ml",
            "daily_dose_mcg",
            "next_refill_date",
            "next_refill_time",
        )
    }
    rows, issues = checked(example(stage="Evaluation", stage_since="", **empty))
    assert issues == [] and rows[0].stage == "evaluation" and rows[0].stage_since == date(2019, 2, 1)
    assert (
        only_issue(example(stage="evaluation", stage_since="", **(empty | {"pump_serial": "NGP1"})))[1] == "pump_serial"
    )


def test_labels_and_short_forms_are_understood():
    rows, issues = checked(
        example(
            sex="F",
            diagnosis="Multiple Sclerosis",
            spasticity_origin="SPINAL",
            stage="Adjustment",
            withdrawal_risk="",
            location="KENNESAW CLINIC",
        )
    )
    assert issues == []
    assert (rows[0].sex, rows[0].diagnosis, rows[0].spasticity_origin, rows[0].location_id) == (
        "female",
        "ms",
        "spinal",
        1,
    )


def test_csv_injection_cells_are_kept_as_typed_text():
    rows, issues = checked(example(first_name="=cmd|' /C calc'!A0", phone="@SUM(1+1)"))
    assert issues == [] and rows[0].first_name == "=cmd|' /C calc'!A0" and rows[0].phone == "@SUM(1+1)"


def test_a_booked_date_without_a_time_takes_the_clinics_first_slot():
    (row,), issues = checked(example(next_refill_time=""))
    assert issues == []
    assert row.next_refill_at.time() == DEFAULT_BOOKING_TIME == time(9, 0)  # the booking form suggests it too
