"""A date without a time counts from clinic-local midnight (tracker.clinical.days), wherever it is entered."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from tracker.clinical.days import start_of_day
from tracker.clinical.refill import DoseProgramme, RefillInputs

AUCKLAND = ZoneInfo("Pacific/Auckland")


def test_a_day_starts_at_local_midnight_not_utc_midnight():
    assert start_of_day(date(2026, 3, 10), AUCKLAND) == datetime(2026, 3, 9, 11, 0, tzinfo=UTC)  # NZDT +13
    assert start_of_day(date(2026, 7, 10), AUCKLAND) == datetime(2026, 7, 9, 12, 0, tzinfo=UTC)  # NZST +12


def test_the_engine_counts_a_date_only_fill_from_the_same_instant():
    day = date(2026, 4, 5)  # the day New Zealand daylight time ends
    fill = RefillInputs(
        fill_time=day,
        reservoir_after_fill_ml=20,
        concentration_mcg_per_ml=500,
        doses=DoseProgramme(daily_dose_mcg=300),
        alarm_volume_ml=2,
        buffer_days=7,
        stability_days=180,
        reservoir_capacity_ml=20,
        tz="Pacific/Auckland",
    )
    assert fill.fill_instant() == start_of_day(day, AUCKLAND)
    assert fill.fill_date() == day
