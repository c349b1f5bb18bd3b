"""What the lab's service servers share: default banners and stable per-host facts."""

from __future__ import annotations

import hashlib
import re
import time
import zlib
from collections.abc import Callable

from utsyn.lab.context import LabContext
from utsyn.lab.manifest import Host, Service, ServiceKind
from utsyn.lab.session import Serve

# Requests (commands, packets) answered per connection before the server hangs up.
MAX_REQUESTS = 200

# What each server reports when the manifest gives no banner: versions that were common
# on the Internet when the lab was written. RDP and SMB announce no version and ignore it.
DEFAULT_BANNERS: dict[ServiceKind, str] = {
    ServiceKind.SSH: "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6",
    ServiceKind.FTP: "(vsFTPd 3.0.3)",
    ServiceKind.TELNET: "Debian GNU/Linux 11",
    ServiceKind.MYSQL: "8.0.36",
    ServiceKind.POSTGRES: "14.11",
    ServiceKind.REDIS: "6.0.16",
    ServiceKind.MONGODB: "4.4.6",
    ServiceKind.ELASTICSEARCH: "7.10.2",
    ServiceKind.MEMCACHED: "1.6.9",
    ServiceKind.LDAP: "389-Directory/1.4.4.17 B2021.224.1647",
    ServiceKind.VNC: "RFB 003.008",
    ServiceKind.MSSQL: "15.0.2000.5",
}

# Builds the session function of one service of one host.
ServerFactory = Callable[[Service, Host, LabContext], Serve]


def banner(service: Service) -> str:
    return service.banner if service.banner is not None else DEFAULT_BANNERS[service.kind]


def short_name(host: Host) -> str:
    return host.name.split(".", 1)[0]


def stable_int(text: str, modulo: int) -> int:
    """A number derived from `text`, so one lab host always shows the same pid or id."""
    return zlib.crc32(text.encode()) % modulo


def stable_hex(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def version_tuple(text: str) -> tuple[int, ...]:
    match = re.search(r"\d+(?:\.\d+)*", text)
    return tuple(int(part) for part in match[0].split(".")) if match else ()


class Uptime:
    """Seconds since the lab server was created: real servers report their uptime."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def seconds(self) -> int:
        return int(time.monotonic() - self.started)
