"""From observations to outcomes: one closed set of outcomes, one module per check family.

`model` holds the `Outcome` enum and its tables (which cost nothing, which factor each
belongs to); each family module (`tls`, `http`, `dns`, `email`, `mail`, `services`, `ssh`,
`vuln`, named like the scanner's families in `scan/`) holds its classifiers and their
tables. docs/vocabulary.md maps every outcome to the checks it is read from and its rules.
"""

from __future__ import annotations

from utsyn.rules.outcomes import dns, email, http, mail, services, ssh, tls, vuln
from utsyn.rules.outcomes.model import (
    PASSING,
    VULNERABILITY_OUTCOMES,
    Hit,
    Outcome,
    factor_of,
)
from utsyn.rules.outcomes.ssh import weak_ssh_key
from utsyn.rules.outcomes.view import Classifier, TargetView
from utsyn.rules.outcomes.vuln import cve_outcome
from utsyn.scan.model import TargetResult

__all__ = [
    "CLASSIFIERS",
    "PASSING",
    "VULNERABILITY_OUTCOMES",
    "Classifier",
    "Hit",
    "Outcome",
    "TargetView",
    "classify",
    "cve_outcome",
    "factor_of",
    "weak_ssh_key",
]

# Every classifier, in the order their hits are listed (and findings are made).
CLASSIFIERS: tuple[Classifier, ...] = (
    tls.tls_protocols,
    tls.tls_ciphers,
    tls.tls_dhe,
    tls.certificates,
    http.http_transport,
    http.http_headers,
    http.http_page,
    http.leakage,
    dns.name_server_versions,
    email.email_records,
    mail.mail_transfer,
    mail.mail_logins,
    mail.smtp_users,
    dns.dns_health,
    services.exposure,
    ssh.ssh_login,
    ssh.ssh_algorithms,
    vuln.vulnerabilities,
)


def classify(result: TargetResult) -> list[Hit]:
    view = TargetView(result)
    return [hit for fn in CLASSIFIERS for hit in fn(view)]
