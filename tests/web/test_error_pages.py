"""Error pages (400, 403, 404, 500) are pages of the site: the navigation of the person
logged in, their language, and what to do next (`problems.ADVICE`)."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from utsyn.web.problems import ADVICE

from .conftest import A_VIEWER, ANALYST, log_in

MENU = re.compile(r'<nav aria-label="(Hovedmeny|Main)" class="main-nav">(.*?)</nav>', re.S)


def _menu(page: str) -> list[str]:
    found = MENU.search(page)
    return re.findall(r'<a href="([^"]+)"', found.group(2)) if found else []


@pytest.mark.parametrize(
    ("path", "status", "nb_title", "advice"),
    [
        ("/finnes-ikke", 404, "Ikke funnet", "Siden finnes ikke"),
        ("/nasjonalt?county=99", 400, "Ugyldig forespørsel", "Sjekk adressen"),
    ],
)
def test_an_error_keeps_the_menu_and_says_what_to_do(
    client: TestClient, path: str, status: int, nb_title: str, advice: str
) -> None:
    log_in(client, ANALYST)
    page = client.get(path, headers={"Accept": "text/html"})
    assert page.status_code == status
    assert _menu(page.text) == ["/oversikt", "/varsler", "/nasjonalt", "/portefoljer", "/tvister"]
    assert '<html lang="nb">' in page.text and ANALYST in page.text  # who is logged in
    assert f"<h1>{nb_title}</h1>" in page.text and f"Feil {status}" in page.text
    assert advice in page.text
    assert 'href="/oversikt">Gå til oversikten din</a>' in page.text
    joiner = "&" if "?" in path else "?"
    english = client.get(f"{path}{joiner}lang=en", headers={"Accept": "text/html"})
    assert '<html lang="en">' in english.text and f"Error {status}" in english.text
    assert ADVICE[status] in english.text.replace("&#39;", "'")
    assert _menu(english.text)[0] == "/oversikt"


def test_a_forbidden_page_keeps_the_organisation_roles_menu(client: TestClient) -> None:
    log_in(client, A_VIEWER)
    page = client.get("/nasjonalt", params={"lang": "en"})
    assert page.status_code == 403
    assert _menu(page.text) == ["/oversikt"]
    assert "Only the national roles see figures across organisations." in page.text
    assert "ask a national administrator" in page.text


def test_a_visitor_gets_the_page_without_a_menu(client: TestClient) -> None:
    page = client.get("/finnes-ikke", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert _menu(page.text) == [] and 'href="/login"' in page.text
    assert "Siden finnes ikke" in page.text
    # The API keeps answering problem details, in the asked language.
    api = client.get("/api/v1/finnes-ikke", params={"lang": "en"})
    assert api.headers["content-type"] == "application/problem+json"
    assert api.json()["title"] == "Not found"


def test_a_crash_is_a_page_with_the_menu(app: FastAPI, engine: Engine) -> None:
    @app.get("/test/crash")
    def crash() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        log_in(client, ANALYST)
        page = client.get("/test/crash")
        assert page.status_code == 500
        assert "Feil 500" in page.text and "Noe gikk galt hos oss" in page.text
        assert _menu(page.text)[0] == "/oversikt"
        assert "a bug" not in page.text  # never a traceback or the exception's words
        assert page.headers["content-security-policy"].startswith("default-src 'self'")
        # When the database is what failed, the page is still shown, without the menu.
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE api_token"))
            connection.execute(text("DROP TABLE app_user"))
        broken = client.get("/test/crash")
        assert broken.status_code == 500 and "Feil 500" in broken.text
        assert _menu(broken.text) == []
