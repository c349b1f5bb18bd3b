"""`db export` / `db import`: every table as JSON lines, round-tripping exactly."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.rating.lifecycle import ExplanationKind
from utsyn.rating.model import rate
from utsyn.rules.model import Assessment, Asset, Finding
from utsyn.rules.rulebook import load_rulebook
from utsyn.store import models
from utsyn.store.assessments import save_assets, save_ratings
from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.dump import export_jsonl, import_jsonl
from utsyn.store.findings import apply_findings, explain
from utsyn.store.rollup import save_snapshot
from utsyn.store.scans import finish_run, start_run, write_target_result

from .builders import add_orgs, result
from .conftest import T0, NewDatabase

BOOK = load_rulebook()


def _fill_every_table(session: Session) -> None:
    orgs = add_orgs(session, 2, sector="municipal", county="46")
    org = orgs[0]
    run = start_run(session, {"orgs": [o.orgnr for o in orgs]}, BOOK.version, T0)
    value = {"ø": "unicode ✓", "n": 1.25, "list": [None, True]}
    write_target_result(session, run, result(org, "org0.test", value, None, 7), T0)
    finished = T0 + timedelta(minutes=3, microseconds=123456)  # microseconds survive too
    finish_run(session, run, finished, stats={"targets": 1})
    rule = BOOK.rules[0]
    finding = Finding(rule.id, "www.org0.test:443", "www", "evidence")
    apply_findings(session, org, [finding], {finding.asset}, T0)
    explain(
        session,
        org,
        finding.key,
        ExplanationKind.FALSE_POSITIVE,
        "Not our server at all.",
        "it@org0.test",
        T0,
        T0 + timedelta(days=30),
    )
    rating = rate(Assessment(org.orgnr, (Asset(finding.asset, rule.factor),), (finding,)), BOOK)
    save_snapshot(session, org, rating, date(2026, 1, 5), T0)
    save_assets(session, org, (Asset(finding.asset, rule.factor),), T0)
    save_ratings(session, [(org.id, rating)], T0)
    _fill_accounts(session, org)


def _fill_accounts(session: Session, org: models.Organisation) -> None:
    user = models.User(
        email="admin@org0.test",
        password_hash="$argon2id$v=19$x",
        role="org_admin",
        org_id=org.id,
        created=T0,
    )
    session.add(user)
    session.flush()
    asset = session.scalars(select(models.Asset).where(models.Asset.org_id == org.id)).one()
    portfolio = models.Portfolio(owner_id=user.id, name="Vestland", created=T0)
    card = models.Scorecard(
        org_id=org.id, name="Web", score=88.5, grade="B", rulebook_version=BOOK.version, scored=T0
    )
    session.add_all([portfolio, card])
    session.flush()
    session.add_all(
        [
            models.ApiToken(
                user_id=user.id,
                name="ci",
                token_hash=hashlib.sha256(b"t").hexdigest(),
                created=T0,
                expires=T0 + timedelta(days=90),
                last_used=T0,
            ),
            models.PortfolioMember(portfolio_id=portfolio.id, org_id=org.id),
            models.ScorecardAsset(scorecard_id=card.id, asset_id=asset.id),
            models.Alert(
                dedupe_key=f"grade-drop:{org.orgnr}:2026-01-05",
                kind="grade_drop",
                org_id=org.id,
                payload={"from": "A", "to": "F"},
                created=T0,
                delivered=None,
            ),
        ]
    )
    session.flush()
    _fill_feeds(session)
    _fill_logins(session, user.id)
    session.commit()


def _fill_logins(session: Session, user_id: int) -> None:
    """Reset links, logouts and login back-off (web/accounts.py, store/logins.py)."""
    later = T0 + timedelta(hours=1)
    session.add_all(
        [
            models.PasswordReset(user_id=user_id, token_hash="0" * 64, created=T0, expires=later),
            models.SessionRevocation(sid_hash="1" * 64, until=later),
            models.LoginThrottle(
                key="address:192.0.2.1", failures=3, last_failure=T0, blocked_until=later
            ),
            models.LoginAddress(account="a@x.test", address="192.0.2.1", last_success=T0),
            # Single sign-on (store/identities.py).
            models.OidcIdentity(
                provider="idporten", subject="s-1", user_id=user_id, created=T0, last_login=T0
            ),
            models.OidcNonce(nonce_hash="2" * 64, until=later),
        ]
    )


def _fill_feeds(session: Session) -> None:
    """The feed provenance and alert delivery tables (vuln/feeds.py, vuln/alerts.py)."""
    alert = session.scalars(select(models.Alert)).one()
    generation = models.FeedGeneration(
        name="g1", source="snapshot", previous=None, digest="0" * 64, created=T0,
        counts={"kev": 1}, changes={},
    )  # fmt: skip
    session.add_all([generation])
    session.flush()
    session.add_all(
        [
            models.AlertDelivery(
                alert_id=alert.id,
                channel="webhook",
                attempts=1,
                last_error=None,
                delivered=T0,
                failed=None,
            ),
            models.FeedFile(
                generation_id=generation.id,
                feed="kev",
                path="kev/k.json",
                source_url="x",
                etag=None,
                last_modified=None,
                sha256="0" * 64,
                size=1,
                file_date=date(2026, 1, 5),
                loaded_at=T0,
                records=1,
                fetched=True,
            ),
        ]
    )


def _export(session: Session) -> bytes:
    out = io.BytesIO()
    export_jsonl(session, out)
    session.rollback()
    return out.getvalue()


@contextmanager
def _database(url: str) -> Iterator[Session]:
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            yield session
    finally:
        engine.dispose()


def test_export_then_import_round_trips_every_table(
    session: Session,
    backend: str,
    new_database: NewDatabase,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    _fill_every_table(session)
    exported = _export(session)
    lines = exported.splitlines()
    tables = {json.loads(line).get("table") for line in lines[1:-1]}
    assert tables == set(models.Base.metadata.tables)
    trailer = json.loads(lines[-1])
    assert trailer["rows"] == {t: sum(json.loads(x)["table"] == t for x in lines[1:-1])
                               for t in models.Base.metadata.tables}  # fmt: skip
    assert trailer["sha256"] == hashlib.sha256(exported[: -len(lines[-1]) - 1]).hexdigest()

    targets = [new_database()]
    if backend == "postgresql":  # across backends: PostgreSQL's export loads into SQLite
        targets.append(f"sqlite:///{tmp_path_factory.mktemp('cross') / 'utsyn.db'}")
    for url in targets:
        with _database(url) as other:
            rows = import_jsonl(other, io.BytesIO(exported))
            assert rows == len(exported.splitlines()) - 2
            assert _export(other) == exported
            add_orgs(other, 3)  # new ids do not collide with imported ones


def test_import_refuses_a_database_that_is_not_empty(session: Session) -> None:
    _fill_every_table(session)
    exported = _export(session)
    with pytest.raises(ConfigError, match="not empty"):
        import_jsonl(session, io.BytesIO(exported))


def test_import_refuses_an_export_of_another_schema(session: Session) -> None:
    other = _dump(session, revision="0000")
    with pytest.raises(ConfigError, match="upgrade both"):
        import_jsonl(session, io.BytesIO(other))
    with pytest.raises(ConfigError, match="not a Utsyn database export"):
        import_jsonl(session, io.BytesIO(b"orgnr,name\n"))


def _sealed(lines: list[bytes]) -> bytes:
    """Header and row lines with the trailer an export would write for them."""
    rows = dict.fromkeys(models.Base.metadata.tables, 0)
    for line in lines[1:]:
        rows[json.loads(line)["table"]] += 1
    digest = hashlib.sha256(b"".join(lines)).hexdigest()
    trailer = {"end": "utsyn-db", "rows": rows, "sha256": digest}
    return b"".join(lines) + json.dumps(trailer, sort_keys=True).encode() + b"\n"


def _dump(session: Session, **header: object) -> bytes:
    """The database's dump with its header changed by `header` (and sealed again)."""
    lines = _export(session).splitlines(keepends=True)
    head = json.loads(lines[0]) | header
    return _sealed([json.dumps(head, sort_keys=True).encode() + b"\n", *lines[1:-1]])


def _cases(dump: bytes) -> dict[str, tuple[bytes, str]]:
    """Damaged copies of `dump` and what the refusal must say."""
    lines = dump.splitlines(keepends=True)
    half = len(lines) // 2  # as a copy that stopped half way: cut where a line ends
    finding = next(i for i, x in enumerate(lines) if b'"table": "finding"' in x)
    header = json.loads(lines[0])
    old = json.dumps({"format": "utsyn-db", "revision": header["revision"]}).encode() + b"\n"
    return {
        "cut at a line end": (b"".join(lines[:half]), rf"cut after line {half}, in table \w+"),
        "cut within a line": (dump[: len(b"".join(lines[:half])) + 20], r"cut within line"),
        "without its trailer": (b"".join(lines[:-1]), r"the trailer \(row counts and checksum\)"),
        "header only": (lines[0], "header only"),
        "a row left out": (
            b"".join(lines[:finding] + lines[finding + 1 :]),
            r"differ from its trailer's counts \(finding 0 of 1\)",
        ),
        "altered": (dump.replace(b"Vestland", b"Vestlann"), "SHA-256 does not match"),
        "another version": (
            _sealed([lines[0].replace(b'"version": 2', b'"version": 3'), *lines[1:-1]]),
            "dump format 3; this Utsyn reads format 2",
        ),
        "an old dump": (old + b"".join(lines[1:-1]), "older Utsyn, without row counts"),
    }


def test_import_refuses_a_dump_that_does_not_verify_and_writes_nothing(
    session: Session, new_database: NewDatabase
) -> None:
    _fill_every_table(session)
    dump = _export(session)
    tables = models.Base.metadata.sorted_tables
    assert dump.count(b'"table": "finding"') == 1 and b"Vestland" in dump
    with _database(new_database()) as target:
        for case, (damaged, expected) in _cases(dump).items():
            with pytest.raises(ConfigError, match=expected):
                import_jsonl(target, io.BytesIO(damaged))
            target.rollback()
            counts = [target.scalar(select(func.count()).select_from(t)) for t in tables]
            assert counts == [0] * len(tables), f"{case}: rows were written"
        assert import_jsonl(target, io.BytesIO(dump)) == dump.count(b"\n") - 2


def test_a_cut_dump_names_what_is_missing(session: Session) -> None:
    _fill_every_table(session)
    lines = _export(session).splitlines(keepends=True)
    cut = next(i for i, x in enumerate(lines) if b'"table": "explanation"' in x)
    with pytest.raises(ConfigError) as refused:
        import_jsonl(session, io.BytesIO(b"".join(lines[:cut])))
    before = json.loads(lines[cut - 1])["table"]
    message = str(refused.value)
    assert f"cut after line {cut}, in table {before}" in message
    assert "explanation" in message.split("tables after it")[1]  # named as missing
