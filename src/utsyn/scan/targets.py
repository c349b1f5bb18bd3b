"""Where scan targets come from: the command line or a targets file (scenarios: `lab.targets`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from utsyn.errors import ConfigError, os_reason
from utsyn.scan.engine import split_host_port
from utsyn.scan.model import Footprint, is_ip


def from_names(names: Iterable[str], org: str = "cli") -> Footprint:
    """Bare domains are scanned as zones and as hosts; `host:port` only as that service."""
    domains: list[str] = []
    hosts: list[str] = []
    for raw in names:
        name = raw.strip().lower().rstrip(".")
        host, ports = split_host_port(name)
        _validate(host, raw)
        if not ports and not is_ip(host):
            domains.append(host)
        hosts.append(name)
    return Footprint(org=org, domains=tuple(domains), hostnames=tuple(hosts))


def from_file(path: Path) -> Footprint:
    """One domain, or host[:port], per line; blank lines and # comments are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(
            "%(path)s: cannot read the targets file (%(reason)s)", path=path, reason=os_reason(exc)
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            "%(path)s: the targets file is not UTF-8 text (byte %(offset)s)",
            path=path,
            offset=exc.start,
        ) from exc
    names = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            _validate(split_host_port(text)[0], text)
        except ConfigError as exc:
            raise ConfigError(
                "%(path)s:%(line)s: %(reason)s", path=path, line=number, reason=exc
            ) from exc
        names.append(text)
    return from_names(names, org=path.stem)


def _validate(host: str, raw: str) -> None:
    if is_ip(host):
        return
    labels = host.split(".")
    ok = 1 < len(host) <= 253 and all(
        0 < len(label) <= 63 and label.replace("-", "").isalnum() for label in labels
    )
    if not ok:
        raise ConfigError("%(name)r is not a host name, an IP address or host:port", name=raw)
