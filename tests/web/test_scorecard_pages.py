"""Custom scorecards: pages, API, scope, and a score that is the rating model's on the subset."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.reads import rating_now
from utsyn.clock import now_utc
from utsyn.pipeline import assessment_now, rate_organisation
from utsyn.rating.model import Rating, rate
from utsyn.rules.evaluate import host_of
from utsyn.rules.model import Assessment
from utsyn.rules.rulebook import load_rulebook
from utsyn.store import footprint
from utsyn.store.models import Asset, Scorecard
from utsyn.store.orgs import organisation

from .conftest import (
    A_ADMIN,
    A_VIEWER,
    ADMIN,
    ANALYST,
    B_VIEWER,
    ORG_A,
    ORG_B,
    audit_actions,
    bearer,
    csrf_of,
    log_in,
)

BOOK = load_rulebook()
WWW = "www.ostmarkfk.test"
CLEAN = "intranett.ostmarkfk.test"  # in the footprint, nothing found on it
API = f"/api/v1/organisations/{ORG_A}/scorecards"


def _text_of(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', html)
    assert found is not None, element_id
    return found.group(1).strip()


def _claim(session: Session, orgnr: str, value: str) -> int:
    org = organisation(session, orgnr)
    return footprint.claim_asset(session, org, "hostname", value, "t", "test", now_utc()).id


def _domain(session: Session, orgnr: str) -> int:
    org = organisation(session, orgnr)
    found = session.scalar(select(Asset.id).where(Asset.org_id == org.id, Asset.kind == "domain"))
    assert found is not None
    return found


def _rated_by_hand(session: Session, hosts: set[str]) -> Rating:
    """The organisation's assessment now, cut to `hosts` here, rated by the model."""
    full = assessment_now(session, organisation(session, ORG_A), BOOK, now_utc())
    assets = tuple(a for a in full.assets if host_of(a.id) in hosts)
    findings = tuple(f for f in full.findings if host_of(f.asset) in hosts)
    return rate(Assessment(full.org, assets, findings), BOOK)


def _make_on_page(client: TestClient, name: str, *asset_ids: int) -> str:
    token = csrf_of(client.get(f"/org/{ORG_A}").text)
    answer = client.post(
        f"/org/{ORG_A}/scorecards",
        data={"name": name, "asset": [str(i) for i in asset_ids], "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    location: str = answer.headers["location"]
    return location


def _num(score: float) -> str:
    return f"{score:.1f}".replace(".", ",")


def test_a_subset_scores_as_the_rating_model_rates_its_findings(
    client: TestClient, session: Session
) -> None:
    www = _claim(session, ORG_A, WWW)
    log_in(client, A_ADMIN)
    form = client.get(f"/org/{ORG_A}").text
    assert 'id="new-scorecard"' in form and f'value="{www}"' in form
    location = _make_on_page(client, "Nettsiden", www)
    assert re.fullmatch(rf"/org/{ORG_A}/scorecards/\d+\?made=1", location)
    page = client.get(location)
    assert page.status_code == 200
    expected = _rated_by_hand(session, {WWW})
    assert expected.findings and expected.score < 100
    assert _text_of(page.text, "grade") == expected.grade
    assert _text_of(page.text, "score") == _num(expected.score)
    assert page.text.count('<article class="finding') == len(expected.findings)
    assert "mta-sts.ostmarkfk.test" not in page.text  # another host's findings stay out
    assert 'id="factors"' in page.text
    # The areas' losses are parts of the total: they add up to 100 − score.
    assert _text_of(page.text, "lost-total") == _num(round(100 - expected.score, 1))

    listing = client.get(f"/org/{ORG_A}").text
    card_id = int(location.split("/")[-1].split("?")[0])
    assert f'href="/org/{ORG_A}/scorecards/{card_id}"' in listing
    saved = session.get_one(Scorecard, card_id)
    assert (saved.score, saved.grade) == (expected.score, expected.grade)


def test_clean_assets_score_100_and_the_whole_domain_is_the_organisation(
    client: TestClient, session: Session
) -> None:
    clean = _claim(session, ORG_A, CLEAN)
    log_in(client, A_ADMIN)
    page = client.get(_make_on_page(client, "Intranett", clean))
    assert _text_of(page.text, "score") == _num(100.0)
    assert _text_of(page.text, "grade") == "A"
    whole = client.get(_make_on_page(client, "Alt", _domain(session, ORG_A)))
    org_rating = rating_now(session, organisation(session, ORG_A), BOOK, now_utc())
    assert _text_of(whole.text, "score") == _num(org_rating.score)
    assert _text_of(whole.text, "grade") == org_rating.grade


def test_scope_and_roles(client: TestClient, session: Session) -> None:
    www = _claim(session, ORG_A, WWW)
    log_in(client, A_ADMIN)
    location = _make_on_page(client, "Nettsiden", www).split("?")[0]
    card_id = location.rsplit("/", 1)[1]

    log_in(client, A_VIEWER)  # reads, does not make
    own = client.get(f"/org/{ORG_A}")
    assert client.get(location).status_code == 200
    assert 'id="new-scorecard"' not in own.text
    made = client.post(
        f"/org/{ORG_A}/scorecards",
        data={"name": "Nei", "asset": [str(www)], "csrf_token": csrf_of(own.text)},
    )
    assert made.status_code == 403
    deleted = client.post(f"{location}/slett", data={"csrf_token": csrf_of(own.text)})
    assert deleted.status_code == 403

    log_in(client, B_VIEWER)  # another organisation: 403 on pages
    assert client.get(location).status_code == 403
    assert client.get(f"/org/{ORG_B}/scorecards/{card_id}").status_code == 404  # not B's card

    log_in(client, ANALYST)
    assert client.get(location).status_code == 200
    token = csrf_of(client.get(f"/org/{ORG_A}").text)
    analyst = client.post(
        f"/org/{ORG_A}/scorecards", data={"name": "Nei", "asset": [str(www)], "csrf_token": token}
    )
    assert analyst.status_code == 403

    log_in(client, ADMIN)  # a national admin may edit every organisation
    token = csrf_of(client.get(f"/org/{ORG_A}").text)
    gone = client.post(f"{location}/slett", data={"csrf_token": token}, follow_redirects=False)
    assert gone.status_code == 303
    assert client.get(location).status_code == 404
    assert (ADMIN, "scorecard:delete", f"{ORG_A}/scorecard/{card_id}") in audit_actions(session)


def test_assets_of_another_organisation_are_refused(client: TestClient, session: Session) -> None:
    log_in(client, A_ADMIN)
    token = csrf_of(client.get(f"/org/{ORG_A}").text)
    theirs = _domain(session, ORG_B)
    answer = client.post(
        f"/org/{ORG_A}/scorecards",
        data={"name": "Lånt", "asset": [str(theirs)], "csrf_token": token},
    )
    assert answer.status_code == 422
    none = client.post(f"/org/{ORG_A}/scorecards", data={"name": "Tom", "csrf_token": token})
    assert none.status_code == 422
    assert session.scalars(select(Scorecard)).all() == []


def test_a_re_rating_refreshes_the_saved_score(client: TestClient, session: Session) -> None:
    www = _claim(session, ORG_A, WWW)
    log_in(client, A_ADMIN)
    card_id = int(_make_on_page(client, "Nettsiden", www).split("/")[-1].split("?")[0])
    before = session.get_one(Scorecard, card_id).score
    page = client.get(f"/org/{ORG_A}")
    keys = re.findall(r'name="key" value="([^"]+)"', page.text)
    key = next(k for k in keys if f"|{WWW}:" in k)
    explained = client.post(
        f"/org/{ORG_A}/explain",
        data={
            "key": key,
            "kind": "accepted_risk",
            "reason": "Accepted by the board until the new site.",
            "days": "90",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert explained.status_code == 303
    session.rollback()  # end the test's read transaction: see the app's commit
    after = session.get_one(Scorecard, card_id)
    assert after.score is not None and before is not None and after.score > before
    rate_organisation(session, ORG_A, BOOK)  # the same again: it is the model's, every time
    assert session.get_one(Scorecard, card_id).score == _rated_by_hand(session, {WWW}).score


def test_the_api(client: TestClient, session: Session) -> None:
    www, clean = _claim(session, ORG_A, WWW), _claim(session, ORG_A, CLEAN)
    admin, viewer = bearer(session, A_ADMIN), bearer(session, A_VIEWER)
    other = bearer(session, B_VIEWER)
    made = client.post(API, json={"name": "Nettsiden", "assets": [www, clean]}, headers=admin)
    assert made.status_code == 201, made.text
    body = made.json()
    expected = _rated_by_hand(session, {WWW, CLEAN})
    assert (body["score"], body["grade"]) == (expected.score, expected.grade)
    assert body["factors"] == expected.factors
    assert sorted(body["findings"]) == sorted(f.key for f in expected.findings)
    assert {a["value"] for a in body["assets"]} == {WWW, CLEAN}

    listed = client.get(API, headers=viewer).json()
    assert [c["id"] for c in listed] == [body["id"]]
    one = client.get(f"{API}/{body['id']}", headers=viewer)
    assert one.status_code == 200 and one.json()["score"] == expected.score

    assert client.post(API, json={"name": "x", "assets": [www]}, headers=viewer).status_code == 403
    twin = client.post(API, json={"name": "Nettsiden", "assets": [www]}, headers=admin)
    assert twin.status_code == 409
    theirs = client.post(
        API, json={"name": "Lånt", "assets": [_domain(session, ORG_B)]}, headers=admin
    )
    assert theirs.status_code == 422

    assert client.get(API, headers=other).status_code == 404  # outside the scope: 404
    assert client.get(f"{API}/{body['id']}", headers=other).status_code == 404
    b_cards = f"/api/v1/organisations/{ORG_B}/scorecards/{body['id']}"
    assert client.get(b_cards, headers=other).status_code == 404

    assert client.delete(f"{API}/{body['id']}", headers=viewer).status_code == 403
    assert client.delete(f"{API}/{body['id']}", headers=admin).status_code == 204
    assert client.get(f"{API}/{body['id']}", headers=admin).status_code == 404
    subject = f"{ORG_A}/scorecard/{body['id']}"
    session.rollback()  # end the test's read transaction: see the app's commits
    assert (A_ADMIN, "scorecard:create", subject) in audit_actions(session)
    assert (A_ADMIN, "scorecard:delete", subject) in audit_actions(session)
