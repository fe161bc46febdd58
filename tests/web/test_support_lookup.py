"""Support's search box: each kind of query finds the parcel, whatever way it is typed."""

from __future__ import annotations

import re

import pytest

from lastmile_portal.domain.lookup import QueryKind, classify, fold
from lastmile_portal.services import lookup
from tests.builders import make_delivery, make_route, make_world
from tests.web.support_helpers import make_staff, sign_in


@pytest.fixture
def world(services):  # type: ignore[no-untyped-def]
    return make_world(services)


@pytest.fixture
def staff_client(client, services):  # type: ignore[no-untyped-def]
    make_staff(services, "agent")
    sign_in(client, "agent")
    return client


def _found(client, q: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Return the tracking numbers the results page lists for ``q``."""
    response = client.get("/support/", query_string={"q": q})
    assert response.status_code == 200, response.get_data(as_text=True)
    return re.findall(r'class="tn">(LM\d{10})<', response.get_data(as_text=True))


# ---------------------------------------------------------------- the classifier (pure)


@pytest.mark.parametrize(
    ("typed", "kind", "text"),
    [
        ("LM0123456789", QueryKind.TRACKING, "LM0123456789"),
        ("lm 0123 456 789", QueryKind.TRACKING, "LM0123456789"),
        ("030 23125001", QueryKind.PHONE, "030 23125001"),
        ("+49 30 23125001", QueryKind.PHONE, "+49 30 23125001"),
        ("0049 (30) 231-250/01", QueryKind.PHONE, "0049 (30) 231-250/01"),
        ("10115", QueryKind.POSTCODE, "10115"),
        ("01067", QueryKind.POSTCODE, "01067"),
        ("ORD-2026-00017", QueryKind.REFERENCE, "ORD-2026-00017"),
        ("Teststraße 12", QueryKind.STREET, "teststr 12"),
        ("teststrasse 12", QueryKind.STREET, "teststr 12"),
        ("Hauptstr.", QueryKind.STREET, "hauptstr"),
        ("Müller", QueryKind.NAME, "muller"),
        ("  josé   GARCÍA ", QueryKind.NAME, "jose garcia"),
        ("ab", QueryKind.TOO_SHORT, "ab"),
        ("é-", QueryKind.TOO_SHORT, "e"),
    ],
)
def test_the_classifier_says_what_was_typed(typed: str, kind: QueryKind, text: str) -> None:
    query = classify(typed)

    assert (query.kind, query.text) == (kind, text)


def test_folding_drops_case_accents_and_punctuation() -> None:
    assert fold("Müller-Lüdenscheidt") == fold("MULLER ludenscheidt") == "muller ludenscheidt"
    assert fold("Straße") == "strasse"
    assert fold("Ørsted Ådne") == "ørsted adne"  # ø is a letter of its own, not an accent
    assert fold(None) == ""


# ---------------------------------------------------------------- the page


def test_a_tracking_number_finds_its_parcel_in_any_case(staff_client, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world)
    make_delivery(world)

    assert _found(staff_client, d.tracking_number.lower()) == [d.tracking_number]


@pytest.mark.parametrize(
    "typed", ["030 23125001", "+49 30 23125001", "0049 30 23125001", "030/231 250-01"]
)
def test_a_phone_number_in_any_format_finds_the_same_parcel(  # type: ignore[no-untyped-def]
    staff_client, world, typed: str
) -> None:
    d = make_delivery(world, phone="+493023125001")
    make_delivery(world, phone="+493023125002")

    assert _found(staff_client, typed) == [d.tracking_number]


def test_a_number_that_cannot_be_a_phone_says_so(staff_client, world) -> None:  # type: ignore[no-untyped-def]
    response = staff_client.get("/support/", query_string={"q": "0000 000"})

    assert response.status_code == 422
    assert "not a valid phone number" in response.get_data(as_text=True)


def test_a_name_matches_partly_whatever_the_case_and_accents(staff_client, world) -> None:  # type: ignore[no-untyped-def]
    zoe = make_delivery(world, recipient_name="Zoë Müller-Lüdenscheidt")
    other = make_delivery(world, recipient_name="Max Mustermann")

    assert _found(staff_client, "muller") == [zoe.tracking_number]
    assert _found(staff_client, "ZOE MÜL") == [zoe.tracking_number]
    assert _found(staff_client, "lüdensch") == [zoe.tracking_number]
    assert _found(staff_client, "mustermann") == [other.tracking_number]
    assert _found(staff_client, "nobody here") == []


def test_a_name_typed_with_sql_wildcards_matches_only_itself(staff_client, world) -> None:  # type: ignore[no-untyped-def]
    make_delivery(world, recipient_name="Anna Schmidt")

    assert _found(staff_client, "a_n_a") == []
    assert _found(staff_client, "schmidt") != []
    # Punctuation alone folds to nothing: too short to search, not "everything".
    assert staff_client.get("/support/", query_string={"q": "%%%"}).status_code == 422


def test_a_postcode_and_a_street_find_the_parcels_there(staff_client, world) -> None:  # type: ignore[no-untyped-def]
    here = make_delivery(world, postcode="10437", address_line="Kastanienallee 12")
    make_delivery(world, postcode="10115", address_line="Invalidenstraße 3")

    assert _found(staff_client, "10437") == [here.tracking_number]
    assert _found(staff_client, "kastanienallee") == [here.tracking_number]
    assert _found(staff_client, "Kastanienallee 12") == [here.tracking_number]
    assert _found(staff_client, "invalidenstrasse 3") != [here.tracking_number]


def test_the_carriers_reference_finds_its_parcel(staff_client, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, reference="ORD-2026-00017")
    make_delivery(world, reference="ORD-2026-00018")

    assert _found(staff_client, "ORD-2026-00017") == [d.tracking_number]


def test_results_show_status_window_and_driver(staff_client, world) -> None:  # type: ignore[no-untyped-def]
    d = make_delivery(world, recipient_name="Grace Hopper")
    make_route(world, [d])

    html = staff_client.get("/support/", query_string={"q": "hopper"}).get_data(as_text=True)

    row = html[html.index('data-testid="result"') :]
    assert "out for delivery" in row
    assert "Driver0 Test" in row
    assert re.search(r"\d\d:\d\d–\d\d:\d\d", row)
    assert "searched as name" in html


def test_results_come_in_pages_of_twenty(staff_client, world) -> None:  # type: ignore[no-untyped-def]
    made = [make_delivery(world, postcode="12045").tracking_number for _ in range(45)]

    first = _found(staff_client, "12045")
    page = staff_client.get("/support/", query_string={"q": "12045", "page": "3"})
    third = re.findall(r'class="tn">(LM\d{10})<', page.get_data(as_text=True))

    assert first == list(reversed(made))[:20]  # newest first
    assert third == list(reversed(made))[40:]
    assert 'data-testid="next-page"' not in page.get_data(as_text=True)
    all_pages = first + _found_page(staff_client, "12045", 2) + third
    assert sorted(all_pages) == sorted(made)  # every parcel on exactly one page


def _found_page(client, q: str, page: int) -> list[str]:  # type: ignore[no-untyped-def]
    html = client.get("/support/", query_string={"q": q, "page": str(page)}).get_data(as_text=True)
    assert 'data-testid="next-page"' in html
    return re.findall(r'class="tn">(LM\d{10})<', html)


def test_too_short_text_and_bad_pages_say_what_to_do(staff_client, world) -> None:  # type: ignore[no-untyped-def]
    short = staff_client.get("/support/", query_string={"q": "ab"})
    bad_page = staff_client.get("/support/", query_string={"q": "10115", "page": "x"})

    assert short.status_code == 422 and "at least 3 letters" in short.get_data(as_text=True)
    assert bad_page.status_code == 422 and "Pages run from 1" in bad_page.get_data(as_text=True)


def test_names_changed_after_announcement_are_found_by_their_new_name(services, world) -> None:  # type: ignore[no-untyped-def]
    from lastmile_portal.domain import model as m

    d = make_delivery(world, recipient_name="Old Name")
    with services.uow() as uow:
        uow.repo.get(m.Delivery, d.id).recipient_name = "Renée Nouveau"
        uow.commit()

    assert [f.tracking_number for f in lookup.search(services, "renee").found] == [
        d.tracking_number
    ]
    assert lookup.search(services, "old name").found == []


def test_on_postgresql_the_same_queries_find_the_same_parcels_through_trigram_indexes(  # type: ignore[no-untyped-def]
    postgres_url, tmp_path, clock
) -> None:
    import sqlalchemy as sa

    from lastmile_portal import create_app
    from lastmile_portal.adapters.migrations import upgrade
    from tests.conftest import base_config

    app = create_app(base_config(tmp_path, DATABASE_URL=postgres_url), clock=clock)
    upgrade(app.config["SETTINGS"].database_url)
    services = app.extensions["lastmile"]
    world = make_world(services)
    zoe = make_delivery(
        world, recipient_name="Zoë Müller", address_line="Kastanienallee 12", phone="+493023125001"
    )
    make_delivery(world, recipient_name="Max Mustermann", phone="+493023125002")

    def found(q: str) -> list[str]:
        return [f.tracking_number for f in lookup.search(services, q).found]

    assert found("MÜLL") == found("0049 30 23125001") == found("kastanienallee 12")
    assert found("muller") == [zoe.tracking_number]
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        indexes = (
            conn.execute(
                sa.text(
                    "SELECT indexdef FROM pg_indexes "
                    "WHERE schemaname = current_schema() AND indexname LIKE '%_trgm'"
                )
            )
            .scalars()
            .all()
        )
    assert len(indexes) == 2 and all("USING gin" in i and "gin_trgm_ops" in i for i in indexes)
    engine.dispose()


@pytest.mark.parametrize("cap", [1000, 3], ids=["sparse", "dense"])
def test_a_common_name_pages_newest_first_whichever_way_it_is_fetched(  # type: ignore[no-untyped-def]
    request, tmp_path, clock, monkeypatch, cap: int
) -> None:
    from lastmile_portal import create_app
    from lastmile_portal.adapters.migrations import upgrade
    from lastmile_portal.adapters.repository import SqlAlchemyRepository
    from tests.conftest import base_config

    monkeypatch.setattr(SqlAlchemyRepository, "TEXT_HITS_CAP", cap)
    url = request.getfixturevalue("postgres_url")
    app = create_app(base_config(tmp_path, DATABASE_URL=url), clock=clock)
    upgrade(app.config["SETTINGS"].database_url)
    services = app.extensions["lastmile"]
    world = make_world(services)
    made = [
        make_delivery(world, recipient_name=f"Jörg Bäcker {i}").tracking_number for i in range(25)
    ]
    make_delivery(world, recipient_name="Someone Else")

    first = lookup.search(services, "backer")
    second = lookup.search(services, "backer", page=2)

    newest = list(reversed(made))
    assert [f.tracking_number for f in first.found] == newest[:20] and first.has_next
    assert [f.tracking_number for f in second.found] == newest[20:] and not second.has_next


def test_strasse_and_str_find_each_other(staff_client, world) -> None:  # type: ignore[no-untyped-def]
    long = make_delivery(world, address_line="Hauptstraße 5")
    short = make_delivery(world, address_line="Hauptstr. 7")

    assert _found(staff_client, "Hauptstr. 5") == [long.tracking_number]
    assert _found(staff_client, "hauptstrasse 7") == [short.tracking_number]
    assert _found(staff_client, "Hauptstraße") == [short.tracking_number, long.tracking_number]
