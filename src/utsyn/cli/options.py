"""Options several commands share, and the scan configuration they build from them."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from utsyn.errors import ConfigError

if TYPE_CHECKING:
    from utsyn.scan.family import ScanConfig

LangOpt = Annotated[str, typer.Option("--lang", envvar="UTSYN_LANG", help="nb (default) or en.")]
OrgnrOpt = Annotated[str, typer.Option("--org", help="Organisation number.")]
ScopeOpt = Annotated[str, typer.Option(help="internet, or lab (loopback only).")]
ResolverOpt = Annotated[
    list[str] | None, typer.Option("--resolver", help="Name server IP (repeatable).")
]
ResolverPortOpt = Annotated[int, typer.Option(help="Port of the name servers.")]


def system_nameservers(path: Path = Path("/etc/resolv.conf")) -> tuple[str, ...]:
    """The system's name servers (Utsyn asks them itself, never through the system resolver)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return ()
    return tuple(line.split()[1] for line in lines if line.startswith("nameserver "))


def checked_scope(scope: str) -> str:
    if scope not in ("internet", "lab"):
        raise ConfigError("--scope must be 'internet' or 'lab', not %(scope)r", scope=scope)
    return scope


def scan_config(
    scope: str,
    resolvers: tuple[str, ...],
    port: int,
    ca_file: Path | None = None,
    trust_anchor: Path | None = None,
) -> ScanConfig:
    """What `utsyn scan`, `footprint discover` and the scheduler scan with: the scope guard's
    policy and the name servers (as given, else the system's)."""
    # Lazy (start-up): the scanner's configuration and guard cost ~75 ms CPU.
    from utsyn.scan.family import ScanConfig
    from utsyn.scan.guard import ScopePolicy

    policy = ScopePolicy.lab() if checked_scope(scope) == "lab" else ScopePolicy.internet()
    for resolver in resolvers:
        try:
            ipaddress.ip_address(resolver)
        except ValueError:
            raise ConfigError(
                "--resolver %(value)r is not an IP address (a name server is given by its address)",
                value=resolver,
            ) from None
    resolvers = resolvers or system_nameservers()
    if not resolvers:
        raise ConfigError("no name server: pass --resolver IP")
    return ScanConfig(
        scope=policy,
        nameservers=resolvers,
        dns_port=port,
        ca_file=ca_file,
        trust_anchor_file=trust_anchor,
    )
