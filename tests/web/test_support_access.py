"""Staff access to /support: every URL needs sign-in and its role; signing in gives nothing away."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pytest

from lastmile_portal import create_app
from lastmile_portal.domain.model import StaffRole
from lastmile_portal.extensions import limiter
from tests.builders import make_delivery, make_route, make_world
from tests.conftest import base_config
from tests.web.support_helpers import PASSWORD, STAFF, csrf, make_staff, sign_in
from tests.web.test_proof_page import DOOR, deliver, jpeg
from tests.web.test_security_headers import PARAMETER, assert_security_headers

ROLES = ("agent", "supervisor", "admin")


def _support_rules() -> list[tuple[str, str, str]]:
    """Return (method, rule, endpoint) for every /support URL of a freshly built app."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(base_config(Path(tmp)))
        cases = []
        for rule in app.url_map.iter_rules():
            if not rule.rule.startswith("/support"):
                continue
            methods = (rule.methods or {"GET"}) - {"HEAD", "OPTIONS"}
            for method in sorted(methods):
                cases.append((method, rule.rule, rule.endpoint))
    return sorted(cases, key=lambda c: (c[1], c[0]))


SUPPORT_RULES = _support_rules()


@pytest.fixture
def scene(services, client):  # type: ignore[no-untyped-def]
    """A parcel on a dispatched route with an access code and a proof photo; one staff per role."""
    world = make_world(services)
    d = make_delivery(world, lat=DOOR[0], lng=DOOR[1], access_code="4711")
    make_route(world, [d])
    from tests.builders import load_stop_id

    deliver(client, load_stop_id(services, d), [jpeg()], DOOR)
    for role in ROLES:
        make_staff(services, role)
    return d


def _url(rule: str, tracking_number: str, photo_query: str) -> str:
    def fill(m: re.Match[str]) -> str:
        if m["name"] == "tracking_number":
            return tracking_number
        return "1" if m["converter"] == "int" else "dummy"

    url = PARAMETER.sub(fill, rule)
    return url + photo_query if "/photos/" in rule else url


def _photo_query(client: Any, tracking_number: str) -> str:
    """Return the query of a real signed staff link to the parcel's first photo, as admin."""
    html = client.get(f"/support/deliveries/{tracking_number}").get_data(as_text=True)
    found = re.search(r'src="(/support/deliveries/[^"]+/photos/\d+)(\?[^"]+)"', html)
    assert found, "the timeline shows the proof photo's thumbnail"
    return found.group(2).replace("&amp;", "&")


def _open(client: Any, method: str, url: str, token_page: str) -> Any:
    if method == "GET":
        return client.get(url)
    token = csrf(client.get(token_page).get_data(as_text=True))
    return client.open(url, method=method, data={"csrf_token": token})


def _to_sign_in(response: Any) -> bool:
    return response.status_code in (302, 303) and response.headers["Location"].endswith(
        "/support/login"
    )


@pytest.mark.parametrize(("method", "rule", "endpoint"), SUPPORT_RULES, ids=lambda v: v)
def test_every_support_url_needs_sign_in_and_the_right_role(  # type: ignore[no-untyped-def]
    app, scene, method: str, rule: str, endpoint: str
) -> None:
    if endpoint == "support.login":
        assert app.test_client().get(rule).status_code == 200
        return
    needed = getattr(app.view_functions[endpoint], "required_role", None)
    assert needed is not None, f"{rule} is not guarded by staff_required"
    admin = app.test_client()
    sign_in(admin, "admin")
    url = _url(rule, scene.tracking_number, _photo_query(admin, scene.tracking_number))

    anonymous = app.test_client()
    assert _to_sign_in(_open(anonymous, method, url, "/support/login"))

    for role in ROLES:
        staff = app.test_client()
        assert sign_in(staff, role).status_code == 303
        response = _open(staff, method, url, "/support/")
        if not StaffRole(role).at_least(needed):
            assert response.status_code == 403, (role, response.status_code)
            assert "You are not allowed to do that." in response.get_data(as_text=True)
        elif endpoint == "support.logout":
            assert _to_sign_in(response)
            assert _to_sign_in(staff.get("/support/"))  # signed out for real
        else:
            assert response.status_code < 500, response.get_data(as_text=True)
            assert response.status_code not in (401, 403), (role, response.status_code)
            assert not _to_sign_in(response)
            if method == "GET" and "<" not in rule.replace("<tracking_number>", ""):
                assert response.status_code == 200


def test_support_pages_carry_the_security_headers_and_are_never_cached(  # type: ignore[no-untyped-def]
    app, client, scene
) -> None:
    sign_in(client, "admin")
    photo = _photo_query(client, scene.tracking_number)
    pages = [
        "/support/login",
        "/support/",
        f"/support/?q={scene.tracking_number}",
        f"/support/deliveries/{scene.tracking_number}",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_security_headers(response)
        assert response.headers["Cache-Control"] == "no-store"
        assert "<script>" not in response.get_data(as_text=True)  # CSP: no inline script
    thumb = client.get(f"/support/deliveries/{scene.tracking_number}/photos/1{photo}")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert_security_headers(thumb)
    assert thumb.headers["Cache-Control"].startswith("private, max-age=")
    over_https = client.get("/support/login", base_url="https://localhost")
    assert over_https.headers["Strict-Transport-Security"].startswith("max-age=")


# ---------------------------------------------------------------- signing in


def _error(response: Any) -> str:
    found = re.search(r'data-testid="login-error">([^<]+)<', response.get_data(as_text=True))
    return found.group(1) if found else ""


def test_the_right_password_signs_in_and_the_page_names_the_staff_member(client, services) -> None:  # type: ignore[no-untyped-def]
    make_staff(services, "agent")

    response = sign_in(client, "agent", email="  AGENT@support.test ")

    assert response.status_code == 303 and response.headers["Location"].endswith("/support/")
    assert "Ann Agent" in client.get("/support/").get_data(as_text=True)


def test_a_wrong_password_and_an_unknown_email_get_the_same_words(client, services) -> None:  # type: ignore[no-untyped-def]
    make_staff(services, "agent")

    wrong = sign_in(client, "agent", password="not the password")
    unknown = sign_in(client, "agent", email="nobody@support.test")

    assert wrong.status_code == unknown.status_code == 401
    assert _error(wrong) == _error(unknown) != ""
    assert "wrong" in _error(wrong) and "minutes" in _error(wrong)
    assert _to_sign_in(client.get("/support/"))  # not signed in


def test_after_five_wrong_passwords_even_the_right_one_waits_and_says_the_same(  # type: ignore[no-untyped-def]
    client, services, clock
) -> None:
    make_staff(services, "agent")
    answers = [_error(sign_in(client, "agent", password=f"guess {i}")) for i in range(5)]
    client.environ_base["REMOTE_ADDR"] = "192.0.2.7"  # another address: its own budget
    unknown = [_error(sign_in(client, "agent", email="ghost@support.test")) for _ in range(6)]

    locked = sign_in(client, "agent")

    assert locked.status_code == 401
    assert _error(locked) == answers[0] == unknown[-1]
    assert _to_sign_in(client.get("/support/"))
    # Fifteen minutes later (the lock's end, and the per-e-mail counter's window) it opens.
    clock.advance(minutes=16)
    limiter.reset()
    assert sign_in(client, "agent").status_code == 303


def test_signing_in_starts_a_fresh_session(client, services) -> None:  # type: ignore[no-untyped-def]
    make_staff(services, "agent")
    client.get("/support/login")
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    before = client.get_cookie("session").value

    sign_in(client, "agent")

    with client.session_transaction() as session:
        assert "planted" not in session
        assert session.get("_user_id")
    assert client.get_cookie("session").value != before


def test_an_idle_session_ends_and_a_busy_one_does_not(client, services, clock) -> None:  # type: ignore[no-untyped-def]
    make_staff(services, "agent")
    sign_in(client, "agent")

    clock.advance(minutes=29)
    assert client.get("/support/").status_code == 200  # the stamp moves with every page
    clock.advance(minutes=29)
    assert client.get("/support/").status_code == 200
    clock.advance(minutes=31)
    idle = client.get("/support/")

    assert _to_sign_in(idle)
    page = client.get("/support/login").get_data(as_text=True)
    assert "Signed out after 30 idle minutes" in page
    assert _to_sign_in(client.get("/support/"))  # and it stays ended


def test_the_session_cookie_is_httponly_lax_and_secure_over_https(
    tmp_path, migrated_sqlite
) -> None:  # type: ignore[no-untyped-def]
    app = create_app(base_config(tmp_path, PUBLIC_BASE_URL="https://portal.example"))

    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_sign_in_is_limited_per_address(client, services) -> None:  # type: ignore[no-untyped-def]
    make_staff(services, "agent")
    answers = [
        sign_in(client, "agent", email=f"someone{i}@support.test").status_code for i in range(11)
    ]

    assert answers[:10] == [401] * 10
    assert answers[10] == 429


def test_a_form_without_its_csrf_token_signs_nobody_in(client, services) -> None:  # type: ignore[no-untyped-def]
    make_staff(services, "agent")

    response = client.post(
        "/support/login", data={"email": STAFF["agent"][0], "password": PASSWORD}
    )

    assert response.status_code == 400
    assert _to_sign_in(client.get("/support/"))


def test_after_sign_in_the_page_asked_for_opens(client, services, scene) -> None:  # type: ignore[no-untyped-def]
    first = client.get(f"/support/deliveries/{scene.tracking_number}")
    assert _to_sign_in(first)

    response = sign_in(client, "agent")

    assert response.headers["Location"] == f"/support/deliveries/{scene.tracking_number}"


# ---------------------------------------------------------------- the create-staff command


def test_create_staff_asks_the_password_twice_and_the_account_signs_in(app, client) -> None:  # type: ignore[no-untyped-def]
    runner = app.test_cli_runner()

    result = runner.invoke(
        args=["create-staff", "new@support.test", "--role", "supervisor", "--name", "Nia New"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )

    assert result.exit_code == 0, result.output
    assert "can sign in at /support/login" in result.output
    page = client.get("/support/login").get_data(as_text=True)
    response = client.post(
        "/support/login",
        data={"csrf_token": csrf(page), "email": "new@support.test", "password": PASSWORD},
    )
    assert response.status_code == 303
    assert "Nia New · supervisor" in client.get("/support/").get_data(as_text=True)


def test_create_staff_refuses_a_short_password_and_a_taken_email_in_one_line(app) -> None:  # type: ignore[no-untyped-def]
    runner = app.test_cli_runner()
    ok = runner.invoke(
        args=["create-staff", "a@support.test", "--password-stdin"], input=f"{PASSWORD}\n"
    )
    short = runner.invoke(
        args=["create-staff", "b@support.test", "--password-stdin"], input="short\n"
    )
    taken = runner.invoke(
        args=["create-staff", "A@support.test", "--password-stdin"], input=f"{PASSWORD}\n"
    )

    assert ok.exit_code == 0
    assert short.exit_code == 1 and "12 to 200 characters" in short.output
    assert taken.exit_code == 1 and "already has an account" in taken.output
    assert "Traceback" not in short.output + taken.output
