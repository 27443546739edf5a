"""What a screen reader and a small screen get (issue 19): the reservoir chart as a table of its own numbers, and
calendar chips that name the patient and say the urgency in words."""

import html
import json
import re
from datetime import datetime, time, timedelta

from tests.support.factories import CLINIC_ZONE, TODAY, implanted_days_ago
from tests.web.test_refills import entry, implanted
from tracker.clinical import refill_risk
from tracker.services.bookings import book_refill
from tracker.services.refill_visits import record_refill


def test_the_reservoir_chart_comes_with_a_table_of_the_same_numbers(as_role, world, session):
    patient, pump = implanted(session, world)
    record_refill(session, world.actor(), pump.id, entry(), False, datetime.now(CLINIC_ZONE))
    page = as_role("nurse").get(f"/patients/{patient.id}").get_data(as_text=True)

    chart = json.loads(html.unescape(re.search(r"data-chart='([^']+)'", page).group(1)))
    table = page[page.index('<details class="chart-data">') :]
    table = table[: table.index("</details>")]
    cell = r"<td[^>]*>([^<]+)</td>"
    rows = re.findall(f"<tr>{cell}{cell}{cell}</tr>", table)
    assert len(rows) == len(chart["labels"]) > 10  # a row for every point the chart draws
    assert [r[0] for r in rows] == chart["labels"]  # on the days the chart labels
    assert [r[2] for r in rows if r[2] != "—"] == ["14"]  # the residual measured at the refill, on its day
    assert rows[0][1] == "20"  # the implant fill: 20 mL
    assert f"alarm at {chart['alarm_ml']:g} mL" in table


def test_calendar_chips_name_the_patient_without_the_mrn_and_say_the_urgency_in_words(as_role, world, session):
    overdue = implanted_days_ago(session, world, 26)  # due 3 days ago
    booked = implanted_days_ago(session, world, 21)
    booked.first_name, booked.last_name = "Lisa", "Castillo"
    session.commit()
    book_refill(
        session,
        world.actor("coordinator"),
        booked.id,
        datetime.combine(TODAY + timedelta(days=1), time(14, 30), CLINIC_ZONE),
        world.clinic.id,
        world.users["nurse"].id,
        "",
        "",
        datetime.now(CLINIC_ZONE),
    )

    page = as_role("coordinator").get(f"/calendar?view=week&date={TODAY + timedelta(days=1)}").get_data(as_text=True)
    chips = {
        m.group(1): m.group(2)
        for m in re.finditer(
            r'<a class="chip urgency-\w+ kind-(\w+)" href="[^"]+/'
            + str(booked.id)
            + r'#pump"\s+title="[^"]*">(.*?)</a>',
            page,
            re.S,
        )
    }
    visible = re.sub(r'<span class="sr-only">.*?</span>|<[^>]+>', "", chips["appointment"]).split()
    assert visible == ["14:30", "Castillo,", "L."]  # time and name, no MRN
    assert booked.mrn not in chips["appointment"]
    assert f'<span class="sr-only">: {refill_risk.LABELS["booked"]}</span>' in chips["appointment"]
    overdue_chip = re.search(
        r'<a class="chip urgency-overdue kind-action" href="[^"]+/' + str(overdue.id) + r'#pump"[^>]*>(.*?)</a>',
        page,
        re.S,
    ).group(1)
    assert refill_risk.LABELS[refill_risk.OVERDUE] in overdue_chip  # not only the red
