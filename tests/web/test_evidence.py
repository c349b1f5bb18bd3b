"""Evidence as readable facts: headers, cookies, key/value facts, a hex dump only for bytes,
and never a Python repr on a page."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.rules.outcomes.model import Outcome
from utsyn.rules.outcomes.view import hit
from utsyn.scan.model import Observation, excerpt
from utsyn.store.models import Finding, Organisation, OrgLatest
from utsyn.web.evidence import Cookie, readable

from .conftest import ANALYST, log_in

# What a Python repr looks like: bytes, quoted keys of a dict, True/False/None as values.
REPR = re.compile(r"""b'|b"|\{'|'\w+': |= None\b|= (True|False)\b|\\x[0-9a-f]{2}""")
STORED_REPR = re.compile(r"""= b'|\{'|'\w+': |= None\b|= (True|False)\b""")


def test_a_rule_writes_an_observed_value_as_json() -> None:
    cookies = [{"name": "SID", "secure": False, "httponly": True, "samesite": None}]
    o = Observation("www.x.test:443", "http.cookies", cookies)
    found = hit(Outcome.COOKIE_NO_SECURE, "www.x.test:443", o, "SID")
    assert found.evidence == (
        'http.cookies = [{"name": "SID", "secure": false, "httponly": true, "samesite": null}]'
    )
    shown = readable(found.evidence)
    assert shown.kind == "cookies"
    assert shown.cookies == (Cookie("SID", False, True, None),)


def test_headers_facts_and_lists() -> None:
    missing = readable("http.header.x-frame-options = null")
    assert (missing.kind, missing.facts) == ("headers", (("x-frame-options", None),))
    sent = readable('http.header.server = "Apache/2.4.62 (Debian)"')
    assert sent.facts == (("server", "Apache/2.4.62 (Debian)"),)
    flag = readable("http.redirects_to_https = false")
    assert (flag.kind, flag.facts) == ("facts", (("http.redirects_to_https", False),))
    listed = readable('ssh.kex.weak = ["diffie-hellman-group1-sha1"]')
    assert (listed.kind, listed.lines) == ("list", ("diffie-hellman-group1-sha1",))


def test_findings_stored_as_python_literals_read_the_same() -> None:
    old = "http.cookies = [{'name': 'SID', 'secure': True, 'httponly': True, 'samesite': None}]"
    assert readable(old).cookies == (Cookie("SID", True, True, None),)
    assert readable("http.header.x-frame-options = None").facts == (("x-frame-options", None),)
    raw = readable("banner = b'\\x00\\x01ab'")
    assert raw.kind == "hex" and raw.dump[0].cells == ("00", "01", "61", "62")
    # Not a literal: shown as the text it is, never evaluated.
    assert readable("x = __import__('os')").kind == "text"


def test_a_binary_greeting_is_a_hex_dump_and_words_stay_words() -> None:
    """An SMB answer as `scan.model.excerpt` keeps it: controls escaped, lost bytes U+FFFD."""
    smb = excerpt(b"\xffSMB@\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01\x00" + b"\x00" * 30)
    dump = readable(smb)
    assert dump.kind == "hex"
    assert dump.dump[0].cells[:5] == ("??", "53", "4d", "42", "40")
    assert dump.dump[0].text.startswith(".SMB@")
    assert [line.offset for line in dump.dump] == [0, 16, 32]
    # A PostgreSQL error: words between NUL separators, one field a line.
    pg = excerpt(
        b"E\x00\x00\x00\x97SFATAL\x00VFATAL\x00C28000\x00Mno pg_hba.conf entry for host "
        b'"127.0.0.1", user "utsyn", database "utsyn", no encryption\x00Fauth.c\x00L543\x00\x00'
    )
    words = readable(pg)
    assert words.kind == "text" and words.lines[:4] == ("E", "SFATAL", "VFATAL", "C28000")
    assert words.lines[4].startswith("Mno pg_hba.conf entry for host")
    assert readable("+OK Dovecot ready. | CAPA | USER").lines == (
        "+OK Dovecot ready.",
        "CAPA",
        "USER",
    )


def test_the_worst_scorecard_shows_facts_not_reprs(client: TestClient, session: Session) -> None:
    stored = session.scalars(select(Finding.evidence)).all()
    assert stored and not any(STORED_REPR.search(text) for text in stored)
    worst = session.execute(
        select(Organisation.orgnr, Organisation.id)
        .join(OrgLatest, OrgLatest.org_id == Organisation.id)
        .order_by(OrgLatest.score)
    ).first()
    assert worst is not None
    rows = session.scalars(
        select(Finding.evidence).where(Finding.org_id == worst.id, Finding.evidence != "")
    ).all()
    log_in(client, ANALYST)
    for lang in ("nb", "en"):
        page = client.get(f"/org/{worst.orgnr}", params={"lang": lang})
        assert page.status_code == 200
        blocks = re.findall(r'<details class="evidence">(.*?)</details>', page.text, re.S)
        assert len(blocks) == len(rows) > 10
        for block in blocks:
            assert REPR.search(html.unescape(block)) is None, block
        assert '<table class="data cookies">' in page.text
        assert '<dl class="facts headers">' in page.text
        plan = page.text[page.text.index('id="plan"') : page.text.index('id="factors-heading"')]
        assert "`" not in plan and "<code>" in plan  # the rule texts' Markdown, rendered
