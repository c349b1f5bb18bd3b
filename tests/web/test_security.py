"""Utsyn's own answers: security headers everywhere, escaping of what others sent."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from utsyn.web.templates import environment

from .conftest import ADMIN, bearer, csrf_of

CSP = (
    "default-src 'self'; script-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def _assert_strict(headers: dict[str, str], https: bool = True) -> None:
    assert headers["content-security-policy"] == CSP
    assert "unsafe-inline" not in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert "camera=()" in headers["permissions-policy"]
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert headers["x-frame-options"] == "DENY"
    if https:
        assert headers["strict-transport-security"].startswith("max-age=63072000")
    else:
        assert "strict-transport-security" not in headers


@pytest.mark.parametrize(
    "path", ["/", "/login", "/static/utsyn.css", "/nowhere", "/api/v1/openapi.json", "/api/v1/me"]
)
def test_every_answer_has_the_headers(client: TestClient, path: str) -> None:
    _assert_strict(dict(client.get(path).headers))


def test_api_answers_have_the_headers_and_no_store(client: TestClient, session: Session) -> None:
    answer = client.get("/api/v1/organisations", headers=bearer(session, ADMIN))
    _assert_strict(dict(answer.headers))
    assert answer.headers["cache-control"] == "no-store"


def test_no_hsts_and_no_secure_cookie_over_plain_http(app: object) -> None:
    with TestClient(app, base_url="http://testserver") as plain:  # type: ignore[arg-type]
        answer = plain.get("/login")
    _assert_strict(dict(answer.headers), https=False)
    assert "secure" not in answer.headers["set-cookie"].lower()


def test_what_a_user_typed_is_escaped_in_pages(client: TestClient) -> None:
    form = client.get("/login")
    hostile = '"><script>alert(1)</script>@x.test'
    answer = client.post(
        "/login", data={"email": hostile, "password": "x", "csrf_token": csrf_of(form.text)}
    )
    assert "<script>alert(1)</script>" not in answer.text
    assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text


def test_templates_escape_scanned_text_in_translated_messages() -> None:
    template = environment().from_string('{{ _("You are logged in as %(email)s.", email=x) }}')
    assert "&lt;b&gt;" in template.render(x="<b>evil</b>")
    assert "&lt;img" in environment().from_string("{{ x }}").render(x="<img src=x onerror=1>")
