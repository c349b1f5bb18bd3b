"""Alerts after feed updates and grade drops, delivered to real loopback receivers: a
webhook (HMAC-SHA256 over the body) and e-mail through aiosmtpd."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.reads import delivery_states
from utsyn.errors import ConfigError
from utsyn.settings import Settings
from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.dump import export_jsonl, import_jsonl
from utsyn.store.models import Alert, Organisation
from utsyn.vuln.alerts import (
    EMAIL,
    KIND_CVE,
    KIND_GRADE,
    KIND_KEV,
    SIGNATURE_HEADER,
    WEBHOOK,
    DeliveryConfig,
    deliver_pending,
    grade_drop_alerts,
    verify_signature,
)
from utsyn.vuln.feeds import update_feeds
from utsyn.vuln.index import read_manifest

from .conftest import (
    T0,
    FeedServer,
    SmtpReceiver,
    WebhookReceiver,
    add_org,
    free_port,
    nginx,
    observe,
    write_mirror_manifest,
)

SECRET = b"utsyn-test-secret"
KEV_JSON = "kev/known_exploited_vulnerabilities.json"
NEW_KEV = "CVE-2021-23017"  # nginx resolver off-by-one: fixed in 1.20.1 and 1.21.0
# A mainline nginx no distribution release ships, so its version is its code's and a match is
# confirmed (Debian's and Ubuntu's 1.18.0 would be potential: they carry the fix).
AFFECTED = "1.19.0"


def _config(
    webhook: WebhookReceiver | None, smtp: SmtpReceiver | None, **kw: Any
) -> DeliveryConfig:
    return DeliveryConfig(
        webhook_url=webhook.url if webhook else None,
        webhook_secret=SECRET,
        smtp_host=smtp.host if smtp else None,
        smtp_port=smtp.port if smtp else 25,
        mail_from="utsyn@utsyn.test",
        mail_to=("cert@utsyn.test",),
        backoff_seconds=0.01,
        timeout_seconds=0.5,
        **kw,
    )


def _add_kev_entry(server: FeedServer, cve: str) -> None:
    """The shipped KEV catalogue with one more entry, as CISA would publish it."""
    kev = json.loads((server.root / KEV_JSON).read_text())
    assert cve not in {v["cveID"] for v in kev["vulnerabilities"]}
    kev["vulnerabilities"].append({
        "cveID": cve, "vendorProject": "F5", "product": "NGINX",
        "vulnerabilityName": "F5 NGINX Off-by-One Error in Resolver",
        "dateAdded": "2026-11-01", "shortDescription": "nginx resolver off-by-one.",
        "requiredAction": "Apply mitigations per vendor instructions.",
        "dueDate": "2026-11-22", "knownRansomwareCampaignUse": "Unknown", "notes": "",
        "cwes": ["CWE-193"],
    })  # fmt: skip
    kev["count"] = len(kev["vulnerabilities"])
    server.touch(KEV_JSON, json.dumps(kev).encode())


def _lab(session: Session) -> tuple[Organisation, Organisation]:
    """Fjordvik runs nginx 1.19.0 (affected); Havnøy runs 1.25.5 (fixed)."""
    fjordvik = add_org(session, 1, "Fjordvik kommune")
    observe(session, fjordvik, "www.fjordvik.test:443", nginx(AFFECTED))
    observe(session, fjordvik, "intra.fjordvik.test:443", nginx(AFFECTED))
    havnoy = add_org(session, 2, "Havnøy kommune")
    observe(session, havnoy, "www.havnoy.test:443", nginx("1.25.5"))
    # Ubuntu 22.04's nginx 1.18.0 is in CVE-2021-23017's range, with the fix backported:
    # a potential match, which pages nobody.
    kystby = add_org(session, 3, "Kystby kommune")
    observe(session, kystby, "www.kystby.test:443", nginx("1.18.0"))
    return fjordvik, havnoy


def _mail(smtp: SmtpReceiver, i: int) -> EmailMessage:
    envelope = smtp.inbox.messages[i]
    assert isinstance(envelope.content, bytes)
    message = message_from_bytes(envelope.content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_a_new_kev_entry_on_a_seen_product_alerts_once_by_webhook_and_email(
    session: Session,
    settings: Settings,
    feed_server: FeedServer,
    webhook: WebhookReceiver,
    smtp: SmtpReceiver,
) -> None:
    """Done when: nginx 1.19.0 seen at Fjordvik, then KEV adds CVE-2021-23017."""
    fjordvik, _ = _lab(session)
    config = _config(webhook, smtp)
    update_feeds(session, feed_server.base, settings, T0)  # the baseline: nothing new
    assert deliver_pending(session, config).delivered == 0 and not webhook.received

    _add_kev_entry(feed_server, NEW_KEV)
    result = update_feeds(session, feed_server.base, settings, T0 + timedelta(days=1))
    assert result.changes.new_kev == {NEW_KEV} and len(result.alert_ids) == 1
    report = deliver_pending(session, config)
    assert report.delivered == 1

    (headers, body), = webhook.received  # fmt: skip
    assert verify_signature(SECRET, body, headers[SIGNATURE_HEADER])
    assert not verify_signature(b"another secret", body, headers[SIGNATURE_HEADER])
    sent = json.loads(body)
    assert sent["key"] == f"kev:{fjordvik.orgnr}:{NEW_KEV}" and sent["kind"] == KIND_KEV
    assert sent["payload"]["cve"]["id"] == NEW_KEV and sent["payload"]["cve"]["kev"] is True
    assert sent["payload"]["targets"] == ["intra.fjordvik.test:443", "www.fjordvik.test:443"]
    assert sent["payload"]["kev"]["due_date"] == "2026-11-22"

    assert len(smtp.inbox.messages) == 1
    assert smtp.inbox.messages[0].rcpt_tos == ["cert@utsyn.test"]
    mail = _mail(smtp, 0)
    assert "Fjordvik kommune" in mail["Subject"] and NEW_KEV in mail["Subject"]
    text = mail.get_content()
    norwegian, english = text.split("-- English --")
    assert "kjent utnyttede sårbarheter" in norwegian and "www.fjordvik.test:443" in norwegian
    assert "Known Exploited Vulnerabilities" in english and "Apply mitigations" in english

    alert = session.scalars(select(Alert)).one()
    assert alert.delivered is not None and alert.attempts == 2 and alert.last_error is None
    assert {c: s.attempts for c, s in delivery_states(session, alert).items()} == {
        WEBHOOK: 1,
        EMAIL: 1,
    }

    again = update_feeds(session, feed_server.base, settings, T0 + timedelta(days=2))
    assert not again.switched and again.alert_ids == ()
    assert deliver_pending(session, config).delivered == 0
    assert len(webhook.received) == 1 and len(smtp.inbox.messages) == 1


def test_the_same_news_from_another_mirror_creates_no_second_alert(
    session: Session, settings: Settings, feed_server: FeedServer, tmp_path: Path
) -> None:
    _lab(session)
    update_feeds(session, feed_server.base, settings, T0)
    _add_kev_entry(feed_server, NEW_KEV)
    assert len(update_feeds(session, feed_server.base, settings, T0).alert_ids) == 1
    # Back to the old catalogue and forward again: the CVE is "new" twice, the key once.
    kev = json.loads((feed_server.root / KEV_JSON).read_text())
    kev["vulnerabilities"] = kev["vulnerabilities"][:-1]
    feed_server.touch(KEV_JSON, json.dumps(kev).encode())
    assert update_feeds(session, feed_server.base, settings, T0).changes.new_kev == frozenset()
    _add_kev_entry(feed_server, NEW_KEV)
    readded = update_feeds(session, feed_server.base, settings, T0)
    assert readded.changes.new_kev == {NEW_KEV} and readded.alert_ids == ()
    assert len(session.scalars(select(Alert)).all()) == 1


def test_a_newly_published_cve_alerts_the_organisations_it_affects(
    session: Session, settings: Settings, feed_server: FeedServer
) -> None:
    fjordvik, _ = _lab(session)
    update_feeds(session, feed_server.base, settings, T0)
    nvd = feed_server.root / "cve" / "nvd2"
    record = json.loads((nvd / f"{NEW_KEV}.json").read_text())
    record["id"] = "CVE-2026-99999"  # NVD publishes a new nginx CVE with the same ranges
    (nvd / "CVE-2026-99999.json").write_text(json.dumps(record))
    manifest = read_manifest(feed_server.root)
    manifest["nvd"]["files"] = sorted(p.name for p in nvd.glob("*.json"))
    write_mirror_manifest(feed_server.root, manifest)

    result = update_feeds(session, feed_server.base, settings, T0)
    assert result.changes.new_cves == {"CVE-2026-99999"}
    alert = session.scalars(select(Alert)).one()
    assert alert.kind == KIND_CVE and alert.dedupe_key == f"cve:{fjordvik.orgnr}:CVE-2026-99999"


def test_webhook_retries_a_500_with_back_off_then_succeeds(
    session: Session, settings: Settings, feed_server: FeedServer, webhook: WebhookReceiver
) -> None:
    _lab(session)
    update_feeds(session, feed_server.base, settings, T0)
    _add_kev_entry(feed_server, NEW_KEV)
    update_feeds(session, feed_server.base, settings, T0)
    webhook.script = [500, 503]
    pauses: list[float] = []
    report = deliver_pending(session, _config(webhook, None), sleep=pauses.append)
    assert report.delivered == 1 and len(webhook.received) == 3
    assert pauses == [0.01, 0.02]  # doubled after each failure
    bodies = {body for _, body in webhook.received}
    assert len(bodies) == 1  # the same signed bytes each time
    alert = session.scalars(select(Alert)).one()
    assert alert.delivered is not None and alert.attempts == 3
    assert alert.last_error == "webhook: HTTP 503"


def test_webhook_retries_timeouts_and_its_attempts_are_bounded(
    session: Session, settings: Settings, feed_server: FeedServer, webhook: WebhookReceiver
) -> None:
    _lab(session)
    update_feeds(session, feed_server.base, settings, T0)
    _add_kev_entry(feed_server, NEW_KEV)
    update_feeds(session, feed_server.base, settings, T0)
    webhook.script = [500, "slow", 502, 500]
    config = _config(webhook, None, attempts=2, attempts_total=3)
    report = deliver_pending(session, config, sleep=lambda _: None)
    assert report.pending == 1 and len(webhook.received) == 2  # this run's attempts spent
    alert = session.scalars(select(Alert)).one()
    assert alert.last_error == "webhook: no answer within 0.5 s"
    report = deliver_pending(session, config, sleep=lambda _: None)
    assert report.failed == 1 and len(webhook.received) == 3  # all attempts spent
    assert alert.delivered is None and alert.last_error == "webhook: HTTP 502"
    assert delivery_states(session, alert)[WEBHOOK].failed is not None
    deliver_pending(session, config, sleep=lambda _: None)
    assert len(webhook.received) == 3  # spent: not tried again


def test_a_refusing_webhook_is_not_retried(
    session: Session, settings: Settings, feed_server: FeedServer, webhook: WebhookReceiver
) -> None:
    _lab(session)
    update_feeds(session, feed_server.base, settings, T0)
    _add_kev_entry(feed_server, NEW_KEV)
    update_feeds(session, feed_server.base, settings, T0)
    webhook.script = [403]
    assert deliver_pending(session, _config(webhook, None)).failed == 1
    assert len(webhook.received) == 1


def test_only_the_failed_channel_is_retried(
    session: Session,
    settings: Settings,
    feed_server: FeedServer,
    webhook: WebhookReceiver,
    smtp: SmtpReceiver,
) -> None:
    _lab(session)
    update_feeds(session, feed_server.base, settings, T0)
    _add_kev_entry(feed_server, NEW_KEV)
    update_feeds(session, feed_server.base, settings, T0)
    down = SmtpReceiver("127.118.0.4", free_port("127.118.0.4"), smtp.inbox)  # nobody listens
    first = deliver_pending(session, _config(webhook, down, attempts=2))
    assert first.failed == 0 and first.pending == 1  # webhook done; e-mail attempts left
    assert len(webhook.received) == 1 and not smtp.inbox.messages

    second = deliver_pending(session, _config(webhook, smtp))
    assert second.delivered == 1
    assert len(webhook.received) == 1 and len(smtp.inbox.messages) == 1


def test_grade_drop_alerts_once_per_organisation_and_day(
    session: Session, smtp: SmtpReceiver
) -> None:
    org = add_org(session, 3, "Kystby havn")
    assert grade_drop_alerts(session, org, "B", "A", T0) is None  # better
    assert grade_drop_alerts(session, org, None, "F", T0) is None  # first rating
    dropped = grade_drop_alerts(session, org, "B", "D", T0, scores=(84.2, 61.0))
    assert dropped is not None and dropped.kind == KIND_GRADE
    assert dropped.dedupe_key == f"grade:{org.orgnr}:2026-11-02"
    assert grade_drop_alerts(session, org, "D", "F", T0 + timedelta(hours=3)) is None
    assert grade_drop_alerts(session, org, "D", "F", T0 + timedelta(days=1)) is not None
    with pytest.raises(ConfigError, match="'E' is not a grade"):
        grade_drop_alerts(session, org, "A", "E", T0)  # type: ignore[arg-type]

    assert deliver_pending(session, _config(None, smtp)).delivered == 2
    mail = _mail(smtp, 0)
    subject = " ".join(mail["Subject"].split())  # unfolded
    assert (
        subject == f"[Utsyn] Kystby havn ({org.orgnr}): karakteren falt fra B til D / grade dropped"
    )
    assert "falt fra B til D" in mail.get_content() and "84.2 → 61.0" in mail.get_content()


def test_delivery_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="UTSYN_ALERT_WEBHOOK_SECRET"):
        DeliveryConfig.from_settings(Settings(alert_webhook_url="http://127.118.0.2/h"))
    with pytest.raises(ConfigError, match="UTSYN_ALERT_MAIL_TO"):
        DeliveryConfig.from_settings(Settings(alert_smtp_host="127.118.0.3"))
    config = DeliveryConfig.from_settings(
        Settings(
            alert_webhook_url="http://127.118.0.2/h",
            alert_webhook_secret="s3cret",  # type: ignore[arg-type]
            alert_smtp_host="127.118.0.3",
            alert_mail_to=["cert@utsyn.test"],
        )
    )
    assert config.channels == (WEBHOOK, EMAIL) and config.webhook_secret == b"s3cret"
    assert "s3cret" not in repr(Settings(alert_webhook_secret="s3cret"))  # type: ignore[arg-type]


def test_feed_and_alert_rows_survive_export_and_import(
    session: Session,
    settings: Settings,
    feed_server: FeedServer,
    webhook: WebhookReceiver,
    tmp_path: Path,
) -> None:
    """`utsyn db export` / `import` carry the provenance and delivery rows unchanged."""
    _lab(session)
    update_feeds(session, feed_server.base, settings, T0)
    _add_kev_entry(feed_server, NEW_KEV)
    update_feeds(session, feed_server.base, settings, T0)
    webhook.script = [500]
    deliver_pending(session, _config(webhook, None), sleep=lambda _: None)
    exported = io.BytesIO()
    export_jsonl(session, exported)
    session.rollback()
    lines = exported.getvalue().splitlines()
    tables = {json.loads(line)["table"] for line in lines[1:-1]}  # between header and trailer
    assert {"feed_generation", "feed_file", "alert", "alert_delivery"} <= tables

    url = f"sqlite:///{tmp_path / 'copy.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as other:
            assert import_jsonl(other, io.BytesIO(exported.getvalue())) == len(lines) - 2
            again = io.BytesIO()
            export_jsonl(other, again)
        assert again.getvalue() == exported.getvalue()
    finally:
        engine.dispose()
