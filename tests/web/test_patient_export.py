"""The patient list as CSV: the page's filters and order, every page, names only for roles that may export them."""

import csv
import io

from tests.support.factories import make_patient, move


def rows(response) -> list[list[str]]:
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_the_export_keeps_the_filters_and_order_and_has_every_page(app, as_role, world, session):
    app.config["PAGE_SIZE"], before = 3, app.config["PAGE_SIZE"]
    try:
        kennesaw = [make_patient(session, world, mrn=f"K{n:03d}") for n in range(7)]
        make_patient(session, world, mrn="S001", location_id=world.sites["Snellville Clinic"].id)
        gone = make_patient(session, world, mrn="K900")
        move(session, world, gone, "exit:declined")
        nurse = as_role("nurse")
        assert "K006" not in nurse.get(f"/patients?location={world.clinic.id}&sort=mrn").get_data(as_text=True)
        exported = rows(nurse.get(f"/patients/export.csv?location={world.clinic.id}&sort=mrn&page=2"))
    finally:
        app.config["PAGE_SIZE"] = before
    assert exported[0][:3] == ["mrn", "last_name", "first_name"]
    assert [r[0] for r in exported[1:]] == [p.mrn for p in kennesaw]  # active only, this clinic, by MRN
    assert exported[1][3:6] == ["evaluation", "active", ""]


def test_the_list_page_links_to_the_export_with_its_filters(as_role, world, session):
    make_patient(session, world)
    page = as_role("nurse").get(f"/patients?stage=evaluation&location={world.clinic.id}").get_data(as_text=True)
    assert f"/patients/export.csv?stage=evaluation&amp;location={world.clinic.id}" in page


def test_admins_export_mrns_without_names(as_role, world, session):
    patient = make_patient(session, world, last_name="Quimby")
    admin = rows(as_role("admin").get("/patients/export.csv"))
    assert admin[0][:2] == ["mrn", "stage"] and admin[1][0] == patient.mrn and "Quimby" not in str(admin)
    assert "Quimby" in str(rows(as_role("coordinator").get("/patients/export.csv")))


def test_names_that_look_like_formulas_are_defused(as_role, world, session):
    make_patient(session, world, last_name='=HYPERLINK("http://evil")')
    exported = rows(as_role("nurse").get("/patients/export.csv"))
    assert exported[1][1].startswith("'=HYPERLINK")
