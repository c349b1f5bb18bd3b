"""Mail servers (`scan.mail`): STARTTLS, logins before TLS, VRFY/EXPN."""

from __future__ import annotations

from collections.abc import Iterator

from utsyn.rules.outcomes.model import Hit, Outcome
from utsyn.rules.outcomes.view import TargetView, hit

# Where other mail servers deliver (RFC 5321); SMTP on any other port is users' submission.
MAIL_TRANSFER_PORT = 25
_LOGIN_STARTTLS = ("smtp.starttls", "imap.starttls", "pop3.starttls")


def mail_transfer(view: TargetView) -> Iterator[Hit]:
    """STARTTLS between servers; on the other ports it is a login's (`mail_logins`)."""
    for asset, o in view.assets_with("smtp.starttls"):
        if asset.endswith(f":{MAIL_TRANSFER_PORT}"):
            yield hit(Outcome.STARTTLS_OK if o.value else Outcome.STARTTLS_MISSING, asset, o)


def mail_logins(view: TargetView) -> Iterator[Hit]:
    """Where users log in to mail (submission, IMAP, POP3; see `scan.mail.mailproto`): whether a
    password is accepted before TLS, and whether TLS can be had on the port at all."""
    for asset, o in view.assets_with("mail.cleartext_login"):
        cleartext = o.value is True
        yield hit(Outcome.CLEARTEXT_LOGIN if cleartext else Outcome.NO_CLEARTEXT_LOGIN, asset, o)
    for asset, checks in view.assets.items():
        if asset.endswith(f":{MAIL_TRANSFER_PORT}"):
            continue
        for check in _LOGIN_STARTTLS:
            if check in checks:
                o = checks[check]
                outcome = Outcome.LOGIN_STARTTLS_OK if o.value else Outcome.LOGIN_STARTTLS_MISSING
                yield hit(outcome, asset, o)


def smtp_users(view: TargetView) -> Iterator[Hit]:
    """VRFY/EXPN that tell a real mailbox from a made-up one (see `scan.mail.smtp`)."""
    for asset, checks in view.assets.items():
        answers = [checks[c] for c in ("smtp.vrfy", "smtp.expn") if c in checks]
        leaking = [o for o in answers if o.value == "enumerates"]
        for o in leaking:
            yield hit(Outcome.SMTP_USER_ENUMERATION, asset, o, detail=o.check[5:].upper())
        if answers and not leaking and all(o.value in ("uniform", "disabled") for o in answers):
            yield hit(Outcome.SMTP_NO_USER_ENUMERATION, asset, answers[0])
