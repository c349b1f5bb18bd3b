"""The board summary PDF and the exports, from the web: scoped like every other page."""

from __future__ import annotations

import csv
import io
import json

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from .conftest import A_VIEWER, ADMIN, ORG_A, ORG_B, bearer, log_in


def test_the_board_summary_pdf_for_the_own_organisation_only(client: TestClient) -> None:
    log_in(client, A_VIEWER)
    page = client.get(f"/org/{ORG_A}")
    assert f'href="/org/{ORG_A}/board.pdf?lang=nb"' in page.text
    pdf = client.get(f"/org/{ORG_A}/board.pdf", params={"lang": "en"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert client.get(f"/org/{ORG_B}/board.pdf").status_code == 403


def test_exports_follow_the_role(client: TestClient, session: Session) -> None:
    viewer = bearer(session, A_VIEWER)
    own = client.get(
        "/api/v1/exports", params={"scope": "org", "orgnr": ORG_A, "format": "csv"},
        headers=viewer,
    )  # fmt: skip
    assert own.status_code == 200 and own.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(own.text)))
    assert rows and all(ORG_A in json.dumps(r) for r in rows)
    national = client.get(
        "/api/v1/exports", params={"scope": "national", "format": "json"}, headers=viewer
    )
    assert national.status_code == 403
    other = client.get(
        "/api/v1/exports", params={"scope": "org", "orgnr": ORG_B, "format": "json"},
        headers=viewer,
    )  # fmt: skip
    assert other.status_code == 403
    admin = bearer(session, ADMIN)
    bundle = client.get(
        "/api/v1/exports", params={"scope": "national", "format": "stix"}, headers=admin
    )
    assert bundle.status_code == 200 and json.loads(bundle.text)["type"] == "bundle"
