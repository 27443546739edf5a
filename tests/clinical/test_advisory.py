"""Device advisory match rules (tracker.clinical.advisory): serials as regulators and clinics write them, ranges,
pasted and uploaded lists, models, date edges, explanted pumps."""

from datetime import date

import pytest

from tracker.clinical import advisory
from tracker.clinical.advisory import Criteria, PumpFacts, SerialKey, parse_serials, serial_key
from tracker.clinical.errors import DomainError


def pump(pump_id=1, serial="NGP123456", model_id=1, implanted_on=date(2019, 6, 1), explanted_on=None, **kw):
    return PumpFacts(pump_id, 100 + pump_id, model_id, serial, implanted_on, explanted_on, **kw)


@pytest.mark.parametrize(
    "written", ["NGP123456", "NGP 123456", "ngp123456", "NGP0123456", "ngp-0123456", " NGP 123 456 ", "NGP.123456"]
)
def test_a_serial_however_written_is_one_key(written):
    assert serial_key(written) == SerialKey("NGP", 123456)


def test_a_serial_of_digits_only_and_one_of_mixed_text_keep_their_own_keys():
    assert serial_key("000123") == SerialKey("", 123)
    assert serial_key("AB12C3") == SerialKey("AB12C3", None)
    assert serial_key(" - ") is None


def test_a_pasted_list_takes_newlines_commas_semicolons_and_tabs():
    serials = parse_serials("NGP100001\nngp 100002, NGP-100003;NGP100004\tNGP100005\n\n")
    assert len(serials) == 5
    assert serials.holds("NGP 100003") and not serials.holds("NGP100006")


def test_a_column_pasted_with_its_header_skips_the_header_only():
    serials = parse_serials("Serial number\nNGP100001\nNGP100002")
    assert len(serials) == 2 and serials.holds("NGP100002")


def test_a_range_holds_both_ends_and_nothing_outside():
    serials = parse_serials("NGP100000-NGP100500")
    assert serials.holds("NGP100000") and serials.holds("ngp 100500") and serials.holds("NGP0100250")
    assert not serials.holds("NGP099999") and not serials.holds("NGP100501")
    assert not serials.holds("NGQ100250")  # other letters are another series


@pytest.mark.parametrize(
    "written",
    [
        "NGP100000 - NGP100500",
        "NGP100000-100500",
        "NGP100000 to NGP100500",
        "NGP100000–NGP100500",
        "NGP-100000-NGP-100500",
        "NGP100000..NGP100500",
    ],
)
def test_a_range_is_read_however_it_is_written(written):
    assert parse_serials(written).ranges == (advisory.SerialRange("NGP", 100000, 100500),)


def test_a_dash_inside_a_serial_is_not_a_range():
    serials = parse_serials("NGP-123456")
    assert serials.ranges == () and serials.holds("NGP123456")


@pytest.mark.parametrize(
    ("written", "words"),
    [
        ("NGP100500-NGP100000", "runs backwards"),
        ("NGP100000-NGQ100500", "same letters"),
        ("NGP 12-345678", "ambiguous"),
        ("hello", "not a serial number"),
        ("NGP1 to pumps", "not a range"),
    ],
)
def test_bad_serial_input_is_refused_with_its_line_and_field(written, words):
    with pytest.raises(DomainError) as refused:
        parse_serials(f"NGP100001\n{written}")
    assert refused.value.field == "serials"
    assert "Line 2" in refused.value.message and words in refused.value.message


def test_an_uploaded_csv_takes_its_serial_column_and_skips_the_header():
    content = "Model,Serial Number,Lot\r\n8637-20,NGP 100001,L1\r\n8637-40,ngp100002,L2\r\n".encode("utf-8-sig")
    serials = parse_serials(advisory.serials_from_file(content))
    assert serials.holds("NGP100001") and serials.holds("NGP100002") and len(serials) == 2


def test_an_uploaded_text_list_without_header_takes_its_first_column_in_windows_1252():
    content = "NGP100001\r\nNGP100010-NGP100020\r\n".encode("cp1252")
    serials = parse_serials(advisory.serials_from_file(content))
    assert serials.holds("NGP100015") and serials.holds("NGP100001")


def test_an_empty_upload_is_refused_on_its_field():
    with pytest.raises(DomainError) as refused:
        advisory.serials_from_file(b"\r\n ,\r\n")
    assert refused.value.field == "serial_file"


def test_a_range_catches_the_right_pumps_only_models_and_serials_together():
    criteria = Criteria(model_ids=frozenset({1}), serials=parse_serials("NGP100000-NGP100500"))
    pumps = [
        pump(1, "NGP100000"),
        pump(2, "ngp 100500"),
        pump(3, "NGP100501"),
        pump(4, "NGP100100", model_id=2),  # right serial, other model
        pump(5, "NGP100200", explanted_on=date(2022, 1, 1)),
    ]
    found = advisory.matches(criteria, pumps)
    assert [(m.pump.pump_id, m.in_use) for m in found] == [(1, True), (2, True), (5, False)]
    assert [advisory.initial_status(m) for m in found] == ["not_reached", "not_reached", "explanted"]


def test_implant_dates_are_inclusive_at_both_ends():
    criteria = Criteria(implanted_from=date(2018, 5, 1), implanted_to=date(2019, 9, 30))
    assert advisory.affects(criteria, pump(implanted_on=date(2018, 5, 1)))
    assert advisory.affects(criteria, pump(implanted_on=date(2019, 9, 30)))
    assert not advisory.affects(criteria, pump(implanted_on=date(2018, 4, 30)))
    assert not advisory.affects(criteria, pump(implanted_on=date(2019, 10, 1)))


def test_a_distribution_range_rules_out_only_pumps_implanted_before_it_began():
    criteria = Criteria(distributed_from=date(2004, 5, 1), distributed_to=date(2011, 7, 31))
    assert not advisory.affects(criteria, pump(implanted_on=date(2004, 4, 30)))
    assert advisory.affects(criteria, pump(implanted_on=date(2004, 5, 1)))
    assert advisory.affects(criteria, pump(implanted_on=date(2012, 1, 1)))  # could be shelf stock: reviewed


def test_concentration_is_the_pumps_current_one_and_a_lot_any_fills():
    criteria = Criteria(concentrations=frozenset({2000}))
    assert advisory.affects(criteria, pump(concentration=2000))
    assert not advisory.affects(criteria, pump(concentration=500))
    lots = Criteria(lots=advisory.parse_lots("kit-88a, K99"))
    assert advisory.affects(lots, pump(lots=frozenset({"KIT 88A"})))
    assert not advisory.affects(lots, pump(lots=frozenset({"KIT88B"})))


def test_an_advisory_that_names_nothing_or_a_backward_range_is_refused():
    with pytest.raises(DomainError) as nothing:
        advisory.check_criteria(Criteria())
    assert nothing.value.field == "model_ids"
    with pytest.raises(DomainError) as backwards:
        advisory.check_criteria(Criteria(implanted_from=date(2020, 1, 2), implanted_to=date(2020, 1, 1)))
    assert backwards.value.field == "implanted_to"


def test_follow_up_due_a_call_within_n_days_or_the_next_refill():
    opened = date(2026, 12, 3)
    assert advisory.follow_up_due(advisory.CALL_WITHIN, 7, opened, date(2027, 1, 1)) == date(2026, 12, 10)
    assert advisory.follow_up_due(advisory.INFORM_AT_REFILL, None, opened, date(2027, 1, 1)) == date(2027, 1, 1)
    assert advisory.follow_up_due(advisory.INFORM_AT_REFILL, None, opened, None) == opened


def test_call_within_needs_its_days():
    with pytest.raises(DomainError) as refused:
        advisory.check_follow_up(advisory.CALL_WITHIN, None)
    assert refused.value.field == "call_days"
    advisory.check_follow_up(advisory.INFORM_AT_REFILL, None)


def test_progress_counts_reached_pumps_in_use_only():
    statuses = ["not_reached", "informed", "not_affected", "explanted"]
    assert str(advisory.progress(statuses)) == "reached 2 of 3"


@pytest.mark.parametrize(
    ("kind", "status", "said"),
    [
        (advisory.INFORM_AT_REFILL, advisory.NOT_REACHED, True),
        (advisory.INFORM_AT_REFILL, advisory.INFORMED, False),
        (advisory.CALL_WITHIN, advisory.NOT_REACHED, True),
        (advisory.CHECK_AT_REFILL, advisory.CHECKED, True),  # asked again at every refill
        (advisory.CHECK_AT_REFILL, advisory.INFORMED, True),
        (advisory.CHECK_AT_REFILL, advisory.ACTION_TAKEN, False),
        (advisory.CHECK_AT_REFILL, advisory.NOT_AFFECTED, False),
        (advisory.PLAN_REPLACEMENT, advisory.CHECKED, False),
    ],
)
def test_what_the_refill_form_reminds_of(kind, status, said):
    assert advisory.said_at_refill(kind, status) is said


def test_a_pump_explanted_since_is_for_the_record_whatever_was_recorded():
    assert advisory.for_the_record(advisory.NOT_REACHED, pump_explanted=True)
    assert advisory.for_the_record(advisory.EXPLANTED, pump_explanted=False)
    assert not advisory.for_the_record(advisory.INFORMED, pump_explanted=False)
    assert advisory.follow_up_words(advisory.CALL_WITHIN, 7) == "Call the patient within 7 days"
