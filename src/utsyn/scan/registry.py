"""Every check family, registered in one place.

Adding a check = one module + one line here + rulebook entries + lab cases.
"""

from __future__ import annotations

from utsyn.scan.dns.family import DnsFamily
from utsyn.scan.family import CheckFamily
from utsyn.scan.http import HttpFamily
from utsyn.scan.mail.smtp import SmtpFamily
from utsyn.scan.services.family import ServicesFamily
from utsyn.scan.ssh import SshFamily
from utsyn.scan.tls.family import TlsFamily

FAMILIES: list[CheckFamily] = [
    ServicesFamily(),
    TlsFamily(),
    HttpFamily(),
    DnsFamily(),
    SmtpFamily(),
    SshFamily(),
]
