"""Alerts: a CVE newly known exploited (CISA KEV) or newly published that matches a product
an organisation exposes, and a grade that worsened; delivered by a signed webhook and by
e-mail.

Each alert is one `Alert` row (`store.alerts` writes it) with a dedupe key
(`kev:<orgnr>:<cve>`, `cve:<orgnr>:<cve>`, `grade:<orgnr>:<day>`) that the database keeps
unique, so a repeated feed update or a re-rating the same day creates nothing more. Only
confirmed matches raise an alert: a potential one (a distribution's backported package, a
range that needs a platform we did not see) is not scored either, and would page people
about builds that are patched.

Delivery (`deliver_pending`) is per channel (`AlertDelivery`): a webhook that succeeded is
not sent again when only the e-mail has to be retried. Each channel gets a bounded number
of attempts per delivery run (`UTSYN_ALERT_ATTEMPTS`, with exponential back-off between
them) and in all (`UTSYN_ALERT_ATTEMPTS_TOTAL`), so a relay that is down for an hour delays
the alert to the next run instead of losing it. 5xx, 429, timeouts and refused connections
are retried; any other refusal (a 4xx, an SMTP 5xx) is final. The webhook body is signed
with HMAC-SHA256 over the exact bytes sent (`X-Utsyn-Signature-256: sha256=<hex>`, as
GitHub does), so a receiver can tell Utsyn's alerts from forged ones.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, get_args

import httpx
from sqlalchemy.orm import Session

from utsyn import __version__
from utsyn.errors import ConfigError
from utsyn.rules.weights import GRADE_ORDER, Grade
from utsyn.settings import Settings
from utsyn.store.alerts import (
    Exposure,
    add_alert,
    delivery_state,
    exposures,
    get_alert,
    insert_alert,
    record_attempt,
    settle_alert,
    undelivered_ids,
)
from utsyn.store.models import Alert, AlertDelivery, Organisation
from utsyn.vuln.enrich import cve_fact
from utsyn.vuln.index import VulnIndex
from utsyn.vuln.match import Match, ObservedProduct, match

KIND_KEV = "vuln.kev"  # a CVE newly in CISA's KEV catalogue
KIND_CVE = "vuln.new"  # a CVE newly published
KIND_GRADE = "grade.drop"
WEBHOOK = "webhook"
EMAIL = "email"
SIGNATURE_HEADER = "X-Utsyn-Signature-256"
MAX_BACKOFF_SECONDS = 60.0


# ------------------------------------------------------------------ what changed


@dataclass(frozen=True, slots=True)
class Changes:
    """What a new index knows that the previous one did not."""

    new_kev: frozenset[str]
    new_cves: frozenset[str]
    withdrawn: frozenset[str]  # ids the previous index had and the new one has not

    def to_json(self) -> dict[str, Any]:
        return {
            "new_kev": sorted(self.new_kev),
            "new_cves": sorted(self.new_cves),
            "withdrawn": sorted(self.withdrawn),
        }


def index_changes(before: VulnIndex, after: VulnIndex) -> Changes:
    return Changes(
        new_kev=frozenset(after.kev.keys() - before.kev.keys()),
        new_cves=frozenset(after.records.keys() - before.records.keys()),
        withdrawn=frozenset(before.records.keys() - after.records.keys()),
    )


# ------------------------------------------------------------------ feed alerts


@dataclass(slots=True)
class _Draft:
    kind: str
    exposure: Exposure
    found: Match
    product: ObservedProduct
    targets: set[str] = field(default_factory=set)


def feed_alerts(
    session: Session, index: VulnIndex, changes: Changes, generation: str, now: datetime
) -> list[Alert]:
    """One alert per organisation and CVE that is new in `changes` and that a product on
    its footprint confirmedly matches in `index`. Already alerted keys create nothing."""
    if not changes.new_kev and not changes.new_cves:
        return []
    by_product: dict[ObservedProduct, list[Exposure]] = defaultdict(list)
    for exposure in exposures(session):
        product = ObservedProduct.from_observation(exposure.value)
        if product.version:
            by_product[product].append(exposure)
    drafts: dict[tuple[int, str], _Draft] = {}
    # Match each distinct product once: thousands of organisations run the same nginx.
    for product, seen in by_product.items():
        for found in match(product, index):
            kind = _kind(found, changes)
            for exposure in seen if kind else ():
                key = (exposure.org_id, found.vuln_id)
                draft = drafts.setdefault(key, _Draft(str(kind), exposure, found, product))
                draft.targets.add(exposure.target)
    created = (_insert_feed_alert(session, d, generation, now) for d in drafts.values())
    return [a for a in created if a is not None]


def _kind(found: Match, changes: Changes) -> str | None:
    if not found.scored:
        return None
    if found.vuln_id in changes.new_kev:
        return KIND_KEV  # the more urgent news when a CVE is both new and exploited
    return KIND_CVE if found.vuln_id in changes.new_cves else None


def _insert_feed_alert(
    session: Session, draft: _Draft, generation: str, now: datetime
) -> Alert | None:
    found, exposure = draft.found, draft.exposure
    prefix = "kev" if draft.kind == KIND_KEV else "cve"
    kev = found.kev
    payload = {
        "org": {"orgnr": exposure.orgnr, "name": exposure.org_name},
        "cve": cve_fact(found),
        "observed": f"{draft.product.product} {draft.product.version}",
        "targets": sorted(draft.targets),
        "kev": None
        if kev is None
        else {
            "date_added": kev.date_added.isoformat(),
            "due_date": kev.due_date.isoformat() if kev.due_date else None,
            "name": kev.name,
            "required_action": kev.required_action,
            "ransomware": kev.ransomware_use,
        },
        "generation": generation,
    }
    key = f"{prefix}:{exposure.orgnr}:{found.vuln_id}"
    return insert_alert(session, key, draft.kind, exposure.org_id, payload, now)


# ------------------------------------------------------------------ grade drops


def grade_drop_alerts(
    session: Session,
    org: Organisation,
    before: Grade | None,
    after: Grade,
    now: datetime | None = None,
    scores: tuple[float | None, float | None] = (None, None),
) -> Alert | None:
    """An alert when the organisation's grade worsened from `before` to `after`; at most
    one per organisation and day (the first drop of the day speaks). `before` None: the
    organisation had no grade yet, which is no drop."""
    grades = get_args(Grade)
    for grade in (before, after):
        if grade is not None and grade not in grades:
            raise ConfigError(
                "%(grade)r is not a grade (one of %(choices)s)",
                grade=grade,
                choices=", ".join(grades),
            )
    if before is None or GRADE_ORDER.index(after) <= GRADE_ORDER.index(before):
        return None
    now = now or datetime.now(UTC)
    day = now.date().isoformat()
    payload = {
        "org": {"orgnr": org.orgnr, "name": org.name},
        "before": before,
        "after": after,
        "score_before": scores[0],
        "score_after": scores[1],
        "day": day,
    }
    return add_alert(session, f"grade:{org.orgnr}:{day}", KIND_GRADE, org.id, payload, now)


# ------------------------------------------------------------------ delivery


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    webhook_url: str | None = None
    webhook_secret: bytes = b""
    smtp_host: str | None = None
    smtp_port: int = 25
    mail_from: str = "utsyn@localhost"
    mail_to: tuple[str, ...] = ()
    attempts: int = 4  # per channel in one run
    attempts_total: int = 12  # per channel over every run
    backoff_seconds: float = 1.0
    timeout_seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryConfig:
        secret = settings.alert_webhook_secret
        if settings.alert_webhook_url and not secret:
            # An unsigned webhook lets anyone who learns the URL forge alerts.
            raise ConfigError("UTSYN_ALERT_WEBHOOK_URL needs UTSYN_ALERT_WEBHOOK_SECRET")
        if settings.alert_smtp_host and not settings.alert_mail_to:
            raise ConfigError("UTSYN_ALERT_SMTP_HOST needs UTSYN_ALERT_MAIL_TO (a JSON list)")
        return cls(
            webhook_url=settings.alert_webhook_url,
            webhook_secret=secret.get_secret_value().encode() if secret else b"",
            smtp_host=settings.alert_smtp_host,
            smtp_port=settings.alert_smtp_port,
            mail_from=settings.alert_mail_from,
            mail_to=tuple(settings.alert_mail_to),
            attempts=max(settings.alert_attempts, 1),
            attempts_total=max(settings.alert_attempts_total, 1),
            backoff_seconds=settings.alert_backoff_seconds,
            timeout_seconds=settings.alert_timeout_seconds,
        )

    @property
    def channels(self) -> tuple[str, ...]:
        configured = ((WEBHOOK, self.webhook_url), (EMAIL, self.smtp_host))
        return tuple(channel for channel, where in configured if where)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    delivered: int = 0  # alerts delivered on every configured channel in this run
    pending: int = 0  # still to be tried on some channel
    failed: int = 0  # given up on some channel


class RetryableError(Exception):
    """The receiver may accept it later: a 5xx, 429, a timeout, a refused connection."""


class RefusedError(Exception):
    """The receiver refused it for good: retrying would only repeat the refusal."""


Sender = Callable[[Alert, DeliveryConfig], None]


def deliver_pending(
    session: Session,
    config: DeliveryConfig,
    sleep: Callable[[float], None] = time.sleep,
) -> DeliveryReport:
    """Try every undelivered alert on every configured channel it still needs."""
    ids = undelivered_ids(session)
    outcomes = [deliver_alert(session, alert_id, config, sleep) for alert_id in ids]
    return DeliveryReport(
        delivered=outcomes.count("delivered"),
        pending=outcomes.count("pending"),
        failed=outcomes.count("failed"),
    )


def deliver_alert(
    session: Session,
    alert_id: int,
    config: DeliveryConfig,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """'delivered', 'pending' (no channel configured, or attempts left) or 'failed'."""
    alert = get_alert(session, alert_id)
    if alert is None or not config.channels:
        return "pending"
    states = [delivery_state(session, alert, channel) for channel in config.channels]
    for state in states:
        if state.delivered is None and state.failed is None:
            _attempt(session, alert, state, config, sleep)
    if settle_alert(session, alert, states):
        return "delivered"
    return "failed" if any(s.failed is not None for s in states) else "pending"


def _attempt(
    session: Session,
    alert: Alert,
    state: AlertDelivery,
    config: DeliveryConfig,
    sleep: Callable[[float], None],
) -> None:
    """Send until delivered, refused, or this run's attempts are spent (the alert stays
    pending for the next run) or all of the channel's attempts are (it is given up). The
    outcome of each attempt is committed at once, so a crash loses no count."""
    send = SENDERS[state.channel]
    for failures in range(config.attempts):
        if failures:
            sleep(min(config.backoff_seconds * 2 ** (failures - 1), MAX_BACKOFF_SECONDS))
        error, final = _try(send, alert, config)
        give_up = final or state.attempts + 1 >= config.attempts_total  # counting this one
        record_attempt(session, alert, state, error, give_up)
        if error is None or give_up:
            return


def _try(send: Sender, alert: Alert, config: DeliveryConfig) -> tuple[str | None, bool]:
    """(error or None, whether the error is final)."""
    try:
        send(alert, config)
    except RetryableError as exc:
        return str(exc) or type(exc).__name__, False
    except RefusedError as exc:
        return str(exc) or type(exc).__name__, True
    return None, False


# ------------------------------------------------------------------ the webhook


def webhook_body(alert: Alert) -> bytes:
    """The exact bytes posted and signed: a stable envelope around the payload."""
    envelope = {
        "id": alert.id,
        "key": alert.dedupe_key,
        "kind": alert.kind,
        "created": alert.created.isoformat(),
        "payload": alert.payload,
    }
    return json.dumps(envelope, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value: `sha256=` and the HMAC-SHA256 of the body in hex."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str) -> bool:
    """For receivers: compare in constant time, so the signature cannot be guessed byte by
    byte from response times."""
    return hmac.compare_digest(sign(secret, body), header)


def post_webhook(alert: Alert, config: DeliveryConfig) -> None:
    body = webhook_body(alert)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"utsyn/{__version__}",
        SIGNATURE_HEADER: sign(config.webhook_secret, body),
        "X-Utsyn-Event": alert.kind,
        "X-Utsyn-Delivery": alert.dedupe_key,  # the receiver's own deduplication key
    }
    url = str(config.webhook_url)
    try:
        # No redirects: a signed alert is for the configured URL only.
        response = httpx.post(url, content=body, headers=headers, timeout=config.timeout_seconds)
    except httpx.TimeoutException as exc:
        raise RetryableError(f"no answer within {config.timeout_seconds} s") from exc
    except httpx.TransportError as exc:
        raise RetryableError(f"cannot reach the webhook: {exc}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise RetryableError(f"HTTP {response.status_code}")
    if not response.is_success:
        raise RefusedError(f"HTTP {response.status_code}")


# ------------------------------------------------------------------ e-mail


def send_email(alert: Alert, config: DeliveryConfig) -> None:
    message = alert_email(alert, config.mail_from, config.mail_to)
    # Our own EHLO name: smtplib would otherwise ask the resolver for this host's FQDN.
    helo = config.mail_from.rpartition("@")[2] or "localhost"
    try:
        with smtplib.SMTP(str(config.smtp_host), config.smtp_port, local_hostname=helo,
                          timeout=config.timeout_seconds) as smtp:  # fmt: skip
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise RefusedError(f"every recipient refused: {exc.recipients}") from exc
    except smtplib.SMTPResponseException as exc:
        text = f"SMTP {exc.smtp_code} {exc.smtp_error!r}"
        raise (RefusedError(text) if exc.smtp_code >= 500 else RetryableError(text)) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise RetryableError(f"cannot send through {config.smtp_host}: {exc}") from exc


def alert_email(alert: Alert, sender: str, recipients: Iterable[str]) -> EmailMessage:
    """Plain text, Norwegian (bokmål) first and English below."""
    subject, norwegian, english = _texts(alert)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(alert.created)
    message["Message-ID"] = make_msgid("utsyn-alert", domain=sender.rpartition("@")[2] or None)
    message["X-Utsyn-Alert"] = alert.dedupe_key
    message.set_content(f"{norwegian}\n\n-- English --\n\n{english}\n", charset="utf-8")
    return message


def _texts(alert: Alert) -> tuple[str, str, str]:
    payload = alert.payload
    org = f"{payload['org']['name']} ({payload['org']['orgnr']})"
    if alert.kind == KIND_GRADE:
        return _grade_texts(org, payload)
    return _cve_texts(org, alert.kind, payload)


def _grade_texts(org: str, p: dict[str, Any]) -> tuple[str, str, str]:
    scores = f"{_num(p['score_before'])} → {_num(p['score_after'])}"
    return (
        f"[Utsyn] {org}: karakteren falt fra {p['before']} til {p['after']} / grade dropped",
        f"Utsyn-karakteren til {org} falt fra {p['before']} til {p['after']} ({p['day']}).\n"
        f"Poengsum: {scores}. Se funnene i Utsyn for hva som endret seg.",
        f"The Utsyn grade of {org} dropped from {p['before']} to {p['after']} ({p['day']}).\n"
        f"Score: {scores}. See the findings in Utsyn for what changed.",
    )


def _cve_texts(org: str, kind: str, p: dict[str, Any]) -> tuple[str, str, str]:
    cve, kev = p["cve"], p["kev"]
    facts_nb = _facts(p, "Produkt", "Tjenester", "ukjent")
    facts_en = _facts(p, "Product", "Services", "unknown")
    if kind == KIND_KEV:
        subject = f"[Utsyn] {org}: {cve['id']} er kjent utnyttet / known exploited (CISA KEV)"
        added = kev["date_added"]
        nb = (
            f"{cve['id']} er nå på CISAs liste over kjent utnyttede sårbarheter (KEV, lagt "
            f"til {added}), og Utsyn har sett et berørt produkt hos {org}."
        )
        en = (
            f"{cve['id']} is now in CISA's Known Exploited Vulnerabilities catalogue "
            f"(added {added}), and Utsyn has seen an affected product at {org}."
        )
        advice_en = f"Required action (CISA): {kev['required_action']}"
    else:
        subject = f"[Utsyn] {org}: ny sårbarhet / new vulnerability {cve['id']}"
        nb = f"{cve['id']} er nylig publisert og gjelder et produkt Utsyn har sett hos {org}."
        en = f"{cve['id']} was recently published and affects a product Utsyn has seen at {org}."
        advice_en = "Upgrade to a fixed version or follow the vendor's advice."
    advice_nb = "Oppgrader til en rettet versjon, eller følg leverandørens råd."
    return (
        subject,
        f"{nb}\n\n{facts_nb}\n\n{advice_nb}",
        f"{en}\n\n{facts_en}\n\n{advice_en}\n\n{cve['summary']}".rstrip(),
    )


def _facts(p: dict[str, Any], product: str, services: str, unknown: str) -> str:
    cve = p["cve"]
    return (
        f"  {product}: {p['observed']} ({cve['product']})\n"
        f"  {services}: {', '.join(p['targets'])}\n"
        f"  CVSS: {_num(cve['cvss'], unknown)}   EPSS: {_num(cve['epss'], unknown)}"
    )


def _num(value: object, unknown: str = "–") -> str:
    return unknown if value is None else f"{value}"


SENDERS: dict[str, Sender] = {WEBHOOK: post_webhook, EMAIL: send_email}
