"""Text from outside is shown harmlessly on the pages: a name stored with control or
bidirectional-override characters reaches no page with them, nor a chart's JSON."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from utsyn.store.models import Organisation
from utsyn.web.templates import environment

from .conftest import ADMIN, ORG_A, log_in

# A terminal or a browser honouring U+202E shows "evil" as "live"; ESC and BEL are controls.
HOSTILE = "Østmark \u202eevil\u202c \x1b[2J\x07fylkeskommune\u2067"
SHOWN = "Østmark evil [2Jfylkeskommune"
HIDDEN = ("\u202e", "\u202c", "\u2067", "\x1b", "\x07")


def test_a_stored_name_reaches_the_pages_without_its_control_characters(
    client: TestClient, session: Session
) -> None:
    # As stored before names were checked (or by anything that writes the table itself).
    session.execute(update(Organisation).where(Organisation.orgnr == ORG_A).values(name=HOSTILE))
    session.commit()
    log_in(client, ADMIN)
    for path in (f"/org/{ORG_A}", f"/org/{ORG_A}/fotavtrykk", f"/org/{ORG_A}/styresammendrag"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert not any(c in page.text for c in HIDDEN), path
        assert SHOWN in page.text, path


def test_chart_json_and_every_value_are_cleaned_by_the_environment() -> None:
    template = environment().from_string("<p>{{ name }}</p><i data-c='{{ spec|tojson }}'></i>")
    html = template.render(name=HOSTILE, spec={"labels": [HOSTILE], HOSTILE: 1})
    assert not any(c in html for c in HIDDEN)
    data = json.loads(html.split("data-c='", 1)[1].split("'>", 1)[0])
    assert data == {"labels": [SHOWN], SHOWN: 1}
