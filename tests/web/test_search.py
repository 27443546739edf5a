"""Issue 19, item 2: search from every page. The header's box finds a patient by name in any order or by MRN with
or without its prefix; one match opens the patient, several the patient list filtered the same way."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from tests.support.factories import make_patient, move
from tracker.models import AuditEvent, Setting


@pytest.fixture
def castillos(session, world):
    return {
        "lisa": make_patient(session, world, first_name="Lisa", last_name="Castillo", mrn="MRN8621234"),
        "mark": make_patient(session, world, first_name="Mark", last_name="Castillo", mrn="MRN8625555"),
        "other": make_patient(session, world, first_name="Lisa", last_name="Castellano", mrn="4455667"),
    }


def search(client, typed: str):
    return client.get("/search", query_string={"q": typed})


def opens(response) -> str:
    assert response.status_code == 302, response.status_code
    return urlsplit(response.headers["Location"]).path


@pytest.mark.parametrize(
    "typed", ["Castillo, Lisa", "Lisa Castillo", "  castillo   LISA ", "castillo,lisa", "lisa castil"]
)
def test_one_match_by_name_in_any_order_opens_the_patient(as_role, castillos, typed):
    assert opens(search(as_role("coordinator"), typed)) == f"/patients/{castillos['lisa'].id}"


@pytest.mark.parametrize("typed", ["MRN8621234", "mrn 8621234", "MRN: 8621234", "8621234", "21234"])
def test_one_match_by_mrn_with_or_without_its_prefix_opens_the_patient(as_role, castillos, typed):
    assert opens(search(as_role("nurse"), typed)) == f"/patients/{castillos['lisa'].id}"


def test_an_mrn_stored_without_a_prefix_is_found_when_typed_with_one(as_role, castillos):
    assert opens(search(as_role("nurse"), "MRN 4455667")) == f"/patients/{castillos['other'].id}"


@pytest.mark.parametrize("typed", ["MRN862", "mrn 862", "862", " MRN862 "])
def test_a_whole_mrn_opens_its_patient_even_inside_longer_ones(as_role, session, world, castillos, typed):
    short = make_patient(session, world, first_name="Ana", last_name="Ruiz", mrn="MRN862")  # in MRN8621234 too
    assert opens(search(as_role("nurse"), typed)) == f"/patients/{short.id}"


def test_part_of_an_mrn_that_is_nobodys_whole_mrn_still_lists_them(as_role, castillos):
    assert opens(search(as_role("nurse"), "MRN862")) == "/patients"  # MRN8621234 and MRN8625555


def test_several_matches_show_the_patient_list_filtered(as_role, castillos):
    nurse = as_role("nurse")
    response = search(nurse, "castillo")
    assert opens(response) == "/patients"
    assert parse_qs(urlsplit(response.headers["Location"]).query) == {"q": ["castillo"], "status": ["all"]}
    listed = nurse.get(response.headers["Location"]).get_data(as_text=True)
    assert "MRN8621234" in listed and "MRN8625555" in listed and "4455667" not in listed
    assert 'value="castillo"' in listed, "the list's own search box holds the words"


def test_the_list_filter_uses_the_same_rule(as_role, castillos):
    listed = as_role("nurse").get("/patients", query_string={"q": "Castillo, Lisa"}).get_data(as_text=True)
    assert "MRN8621234" in listed and "MRN8625555" not in listed and "4455667" not in listed


def test_nothing_found_shows_the_empty_list_and_nothing_typed_the_list(as_role, castillos):
    nurse = as_role("nurse")
    response = search(nurse, "Nobodyhere")
    assert opens(response) == "/patients"
    assert "No patients match" in nurse.get(response.headers["Location"]).get_data(as_text=True)
    for typed in ("", "   ", ", ,"):
        response = search(nurse, typed)
        assert opens(response) == "/patients" and "q=" not in response.headers["Location"]


def test_an_exited_patient_is_found_too(as_role, session, world, castillos):
    gone = make_patient(session, world, first_name="Ida", last_name="Departed")
    move(session, world, gone, "exit:declined")
    assert opens(search(as_role("nurse"), "departed")) == f"/patients/{gone.id}"


def test_odd_input_never_fails(as_role, castillos):
    nurse = as_role("nurse")
    for typed in ("%", "_", "\\", "'; drop table patient; --", "x" * 500, "Lisa " * 30, "MRN", "🙂"):
        assert search(nurse, typed).status_code == 302, typed


def test_with_own_clinic_only_a_search_never_finds_another_clinics_patient(as_role, session, world, castillos):
    theirs = make_patient(
        session,
        world,
        first_name="Faraway",
        last_name="Castillo",
        mrn="MRN9990001",
        location_id=world.sites["Buckhead Clinic"].id,
    )
    session.merge(Setting(name="site_scope", value="2"))
    session.commit()
    nurse, physician = as_role("nurse"), as_role("physician")
    response = search(nurse, "Faraway")
    assert opens(response) == "/patients", "not opened: the nurse may not see that clinic's patients"
    assert "MRN9990001" not in nurse.get(response.headers["Location"]).get_data(as_text=True)
    # Of three Castillos the nurse sees her clinic's two, as the list does.
    listed = nurse.get(search(nurse, "castillo").headers["Location"]).get_data(as_text=True)
    assert "MRN8621234" in listed and "MRN9990001" not in listed
    assert opens(search(physician, "faraway")) == f"/patients/{theirs.id}", "physicians work across clinics"


def test_the_search_writes_no_audit_row_and_the_patient_it_opens_is_audited_as_a_view(as_role, session, castillos):
    nurse = as_role("nurse")
    before = session.scalar(select(func.count(AuditEvent.id)))
    target = search(nurse, "Castillo, Lisa").headers["Location"]
    assert session.scalar(select(func.count(AuditEvent.id))) == before, "a search is read like the list"
    assert nurse.get(target).status_code == 200
    viewed = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert (viewed.action, viewed.entity, viewed.patient_id) == ("view", "patient", castillos["lisa"].id)


def test_the_header_search_box_is_on_every_page_and_needs_a_sign_in(as_role, client, castillos):
    nurse = as_role("nurse")
    for url in ("/patients", "/calendar", "/worklist", f"/patients/{castillos['lisa'].id}"):
        page = nurse.get(url).get_data(as_text=True)
        assert 'role="search" aria-label="Find a patient"' in page and 'action="/search"' in page, url
    response = client.get("/search?q=castillo")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
