"""Services found listening (`scan.services`), and open resolvers (`scan.dns`)."""

from __future__ import annotations

from collections.abc import Iterator

from utsyn.rules.outcomes.model import Hit, Outcome
from utsyn.rules.outcomes.view import TargetView, hit

_EXPOSED = {
    "telnet": Outcome.EXPOSED_TELNET,
    "ftp": Outcome.EXPOSED_FTP,
    "rdp": Outcome.EXPOSED_RDP,
    "smb": Outcome.EXPOSED_SMB,
    "vnc": Outcome.EXPOSED_VNC,
    "mysql": Outcome.EXPOSED_DATABASE,
    "postgres": Outcome.EXPOSED_DATABASE,
    "mssql": Outcome.EXPOSED_DATABASE,
    "redis": Outcome.EXPOSED_NOSQL,
    "mongodb": Outcome.EXPOSED_NOSQL,
    "elasticsearch": Outcome.EXPOSED_NOSQL,
    "memcached": Outcome.EXPOSED_NOSQL,
    "ldap": Outcome.EXPOSED_LDAP,
}


def exposure(view: TargetView) -> Iterator[Hit]:
    # A closed resolver is simply a DNS service: only an open one is an outcome of its own.
    for asset, o in view.assets_with("dns.open_resolver"):
        if o.value is True:
            yield hit(Outcome.OPEN_RESOLVER, asset, o)
    for asset, o in view.assets_with("service.kind"):
        yield hit(_EXPOSED.get(str(o.value), Outcome.EXPECTED_SERVICE), asset, o)
