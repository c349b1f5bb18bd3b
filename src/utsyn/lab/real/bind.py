"""BIND 9 on the real tier: a zone's own name servers and the open resolvers.

`dns_authoritative`: one named per host, bound to that host's address only, serving every
lab zone as the Python `start_name_server` does (another address of the lab's authoritative
data), from master files rendered from the same zone data (`zonefile`), never recursive.
The lab's own name server (ns1.test and ns2.test, `tier.central_name_server`) is one more
such service when BIND is in the real tier's software: the scan's resolver is then BIND too.
- Zones the manifest signs, the island and `test.` itself are signed by BIND with
  `dnssec-policy`, with the lab's own keys handed over as BIND key files: the DS records in
  the parents and the lab's trust anchor then fit whichever server answers. An island is
  simply a zone whose parent holds no DS, as on the Python tier.
- A BROKEN zone is pre-signed with dnssec-signzone and served as a plain zone with its
  signatures spoiled (`zonefile.sign_broken`): `dnssec-policy` never serves a bad RRSIG.
- AXFR: `allow-transfer { any; }` where the manifest allows it, `{ none; }` elsewhere.
- `version.bind` (class CHAOS), from the manifest's `version_bind`: a BIND 9 release
  ("9.18.28-1~deb12u2-Debian") means the server tells its version, and a real BIND tells its
  own (`named -v`, read at run time: `as_served` rewrites the ground truth to it); any other
  text is configured as it is (`version "unknown";`); "" is `version none;` (no data); None
  is a refusal, which BIND gives when a CHAOS view of our own that refuses every query hides
  its built-in `_bind` view.

`dns_resolver`: named with recursion for anyone that forwards only to the lab's name
server (and whose root hints name it too), so it answers every lab name and never reaches
the internet; no empty zones (127.in-addr.arpa is the lab's), no validation.

named binds only addresses configured on an interface, so each host's address is added to
`lo` while its named runs (`loopback`). Everything named writes stays under the host's
folder: `pid-file`, `lock-file` and `session-keyfile` are off (their defaults are the
system's /run/named), `controls { };` keeps rndc off 127.0.0.1:953.
"""

from __future__ import annotations

import functools
import re
import shutil
import socket
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode

from utsyn.errors import LabError
from utsyn.lab.context import LabContext
from utsyn.lab.dns.servers import ZONES_KEY
from utsyn.lab.manifest import DnssecState, Host, Packaging, Service, ServiceKind
from utsyn.lab.real import loopback
from utsyn.lab.real.daemon import Daemon
from utsyn.lab.real.zonefile import file_name, sign_broken, write_key_files, zone_text
from utsyn.lab.zones import LAB_ROOT, LabZones, Name, RdataType, ServedZone, build_zones

NAMED = "/usr/sbin/named"
SIGNZONE = "/usr/bin/dnssec-signzone"
POLICY = "lab"
# A version.bind text that names a BIND 9 release: a server that tells its version.
BIND_RELEASE = re.compile(r"^9\.\d+\.\d+")
QUERY_TIMEOUT = 0.5  # seconds for one readiness query
APPARMOR_PROFILES = Path("/sys/kernel/security/apparmor/profiles")
RESOLVER_CACHE = "32m"  # a lab resolver caches little; BIND's default is 90 % of memory

_DNS_KINDS = (ServiceKind.DNS_AUTHORITATIVE, ServiceKind.DNS_RESOLVER)
# The lab's zones as the manifest has them: its delegations to a zone's own name server carry
# no glue (the lab's server answers for both sides), which BIND's post-load integrity check
# refuses; its records' owner names are served as written, hostname rules or not.
_PERMISSIVE = ("check-integrity no;", "check-names primary ignore;")


@functools.cache
def real_version() -> str:
    """The version BIND answers to version.bind unless told otherwise: `named -v` says
    "BIND 9.18.49-1~deb12u3-Debian (Extended Support Version) <id:>"."""
    try:
        done = subprocess.run([NAMED, "-v"], capture_output=True, text=True, timeout=10)
    except OSError as exc:
        raise LabError(
            "cannot run %(program)s: %(reason)s (apt-get install bind9)", program=NAMED, reason=exc
        ) from exc
    words = done.stdout.split()
    if done.returncode != 0 or len(words) < 2 or words[0] != "BIND":
        raise LabError(
            "%(program)s -v: unexpected answer %(answer)r",
            program=NAMED,
            answer=done.stdout.strip(),
        )
    return words[1]


def tells_release(version_bind: str | None) -> bool:
    return version_bind is not None and BIND_RELEASE.match(version_bind) is not None


class Bind:
    name = "bind"
    packages: tuple[str, ...] = ("bind9", "bind9-utils")
    binaries: tuple[str, ...] = (NAMED, SIGNZONE)

    def refusal(self, host: Host, service: Service) -> str | None:
        if service.kind not in _DNS_KINDS:
            return "BIND serves DNS only"
        return None

    def as_served(self, host: Host, service: Service) -> Service:
        if service.kind == ServiceKind.DNS_AUTHORITATIVE and tells_release(service.version_bind):
            # Debian's bind9, at the version it is: what a CVE match must reckon with.
            update = {"version_bind": real_version(), "package": Packaging.DEBIAN}
            return service.model_copy(update=update)
        return service

    def daemons(
        self, ctx: LabContext, served: Sequence[tuple[Host, Service]], root: Path
    ) -> list[Daemon]:
        _check_apparmor()
        zones = _lab_zones(ctx)
        texts = {origin: zone_text(zone) for origin, zone in zones.zones.items()}
        presigned = _presign_broken(ctx, zones, texts, root / "presigned")
        daemons: list[Daemon] = []
        # Name servers first: a resolver is ready once the lab's name server answers it.
        ordered = sorted(served, key=lambda hs: hs[1].kind == ServiceKind.DNS_RESOLVER)
        for host, service in ordered:
            # The lab's own name server is no manifest host: its address is its own.
            ip, port = host.ip or ctx.addresses[host.name], service.effective_port
            folder = root / f"{host.name}-{port}"
            _stop_leftover(folder)
            shutil.rmtree(folder, ignore_errors=True)  # journals, signed files, key states
            folder.mkdir(parents=True)
            server = _Server(folder, ip, port, host.ipv6)
            if service.kind == ServiceKind.DNS_AUTHORITATIVE:
                conf = _authoritative(ctx, zones, texts, presigned, server, service.version_bind)
                ready = _serving(ip, port, [(z.origin, z.signed) for z in zones.zones.values()])
            else:
                conf = _resolver(ctx, server)
                ready = _recursing(ip, port)
            (folder / "named.conf").write_text(conf, encoding="utf-8")
            daemons.append(
                NamedDaemon(
                    name=self.name,
                    argv=[
                        NAMED,
                        "-g",
                        *([] if host.ipv6 else ["-4"]),
                        "-c",
                        str(folder / "named.conf"),
                    ],
                    pidfile=folder / "named.pid",
                    log=folder / "named.log",
                    listens=[(ip, port)] + ([("::1", port)] if host.ipv6 else []),
                    foreground=True,
                    ready=ready,
                    addresses=[ip],
                )
            )
        return daemons


@dataclass
class NamedDaemon(Daemon):
    """named, with its addresses on lo for as long as it runs."""

    addresses: list[str] = field(default_factory=list)
    _added: list[str] = field(default_factory=list)

    def start(self) -> None:
        taken = [a for a in self.listens if _accepts(a)]
        if taken:
            raise LabError(
                "%(name)s: %(taken)s already accept connections: another server",
                name=self.name,
                taken=taken,
            )
        try:
            for address in self.addresses:
                if loopback.add(address):
                    self._added.append(address)
            super().start()
        except BaseException:
            self._release()
            raise

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            self._release()

    def _release(self) -> None:
        added, self._added = self._added, []
        for address in added:
            loopback.remove(address)


def _accepts(address: tuple[str, int]) -> bool:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(address) == 0


def _stop_leftover(folder: Path) -> None:
    """A named that a lab killed before it could stop it left running from `folder`: stopped
    by its PID, provided that PID still runs this folder's configuration."""
    pidfile = folder / "named.pid"
    try:
        pid = int(pidfile.read_text(encoding="ascii").split()[0])
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        return
    if str(folder / "named.conf").encode() in argv:
        Daemon("named", [], pidfile, folder / "named.log").stop()


def _check_apparmor(profiles: Path = APPARMOR_PROFILES) -> None:
    """Debian's and Ubuntu's AppArmor profile for named confines it to /etc/bind and
    /var/cache/bind: the lab's named could not read its configuration."""
    try:
        text = profiles.read_text(encoding="utf-8")
    except OSError:
        return  # no AppArmor, or not ours to read: named will say what it cannot do
    if any(line.strip() == "named (enforce)" for line in text.splitlines()):
        raise LabError(
            "AppArmor confines named (profile usr.sbin.named) to /etc/bind and "
            "/var/cache/bind, so the lab's named cannot read its configuration; "
            "use the Python tier, or put the profile in complain mode (aa-complain named)"
        )


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class _Server:
    folder: Path
    ip: str
    port: int
    ipv6: bool

    def options(self) -> list[str]:
        """What every named of the lab is told: its address, its folder, nothing of the
        system's."""
        f = self.folder
        v6 = "::1" if self.ipv6 else "none"
        return [
            f'directory "{f}";',
            "pid-file none;",
            "lock-file none;",
            "session-keyfile none;",
            f'managed-keys-directory "{f}";',
            f'dump-file "{f}/named_dump.db";',
            f'statistics-file "{f}/named.stats";',
            f'memstatistics-file "{f}/named.memstats";',
            f'secroots-file "{f}/named.secroots";',
            f'recursing-file "{f}/named.recursing";',
            f"listen-on port {self.port} {{ {self.ip}; }};",
            f"listen-on-v6 port {self.port} {{ {v6}; }};",
            "notify no;",
        ]


def _conf(options: list[str], rest: list[str]) -> str:
    head = ["// Written by Utsyn's lab at every start: changes here are lost.", "options {"]
    body = [f"    {line}" for line in options]
    return "\n".join([*head, *body, "};", "controls { };", *rest]) + "\n"


def _version_option(version_bind: str | None) -> list[str]:
    if version_bind is None or tells_release(version_bind):
        return []  # refused by the CHAOS view, or BIND's own version
    if version_bind == "":
        return ["version none;"]
    escaped = version_bind.replace("\\", "\\\\").replace('"', '\\"')
    return [f'version "{escaped}";']


def _authoritative(
    ctx: LabContext,
    zones: LabZones,
    texts: dict[Name, str],
    presigned: dict[Name, Path],
    server: _Server,
    version_bind: str | None,
) -> str:
    folder = server.folder
    (folder / "zones").mkdir()
    statements = []
    for origin, zone in sorted(zones.zones.items()):
        path = folder / "zones" / file_name(origin)
        if origin in presigned:
            shutil.copyfile(presigned[origin], path)
        else:
            path.write_text(texts[origin], encoding="utf-8")
        signing = zone.signed and origin not in presigned
        if signing:
            write_key_files(origin, ctx.ca.cache_dir, folder / "keys")
        statements.append(_zone_statement(zone, path, signing))
    options = [
        *server.options(),
        "recursion no;",
        "dnssec-validation no;",
        f'key-directory "{folder}/keys";',
        *_PERMISSIVE,
        *_version_option(version_bind),
    ]
    policy = [
        f'dnssec-policy "{POLICY}" {{',
        "    keys {",
        "        ksk key-directory lifetime unlimited algorithm ecdsap256sha256;",
        "        zsk key-directory lifetime unlimited algorithm ecdsap256sha256;",
        "    };",
        "    dnskey-ttl 3600;",
        "};",
    ]
    view = ['view "lab" in {', "    match-clients { any; };", *statements, "};"]
    return _conf(options, [*policy, *view, *_chaos_view(folder, version_bind)])


def _zone_statement(zone: ServedZone, path: Path, signing: bool) -> str:
    transfer = "any" if zone.transfer else "none"
    lines = [f'zone "{zone.origin}" {{ type primary; file "{path}";']
    lines.append(f"allow-transfer {{ {transfer}; }};")
    if signing:
        lines.append(f'dnssec-policy "{POLICY}"; inline-signing yes;')
    return "    " + " ".join(lines) + " };"


def _chaos_view(folder: Path, version_bind: str | None) -> list[str]:
    """None: REFUSED to version.bind, as NSD's hide-version answers. A view of class CHAOS
    that matches every client hides BIND's built-in one and refuses all it is asked."""
    if version_bind is not None:
        return []
    hints = folder / "chaos.hint"  # a class CHAOS view needs root hints, even empty ones
    hints.write_text("", encoding="ascii")
    return [
        'view "hidden" chaos {',
        "    match-clients { any; };",
        "    allow-query { none; };",
        f'    zone "." chaos {{ type hint; file "{hints}"; }};',
        "};",
    ]


def _resolver(ctx: LabContext, server: _Server) -> str:
    hints = server.folder / "root.hint"
    # Were anything to make named resolve on its own, its root servers are the lab's too.
    hints.write_text(
        f". 3600000 NS ns1.{LAB_ROOT}\nns1.{LAB_ROOT} 3600000 A {ctx.dns_ip}\n", encoding="ascii"
    )
    options = [
        *server.options(),
        "recursion yes;",
        "allow-query { any; };",
        "allow-recursion { any; };",
        "allow-query-cache { any; };",
        "forward only;",
        f"forwarders {{ {ctx.dns_ip} port {ctx.dns_port}; }};",
        f"query-source address {server.ip};",
        "dnssec-validation no;",
        "empty-zones-enable no;",
        f"max-cache-size {RESOLVER_CACHE};",
    ]
    return _conf(options, [f'zone "." {{ type hint; file "{hints}"; }};'])


# ---------------------------------------------------------------- zones and readiness


def _lab_zones(ctx: LabContext) -> LabZones:
    """The zones the lab's own name server answers from (built once, shared)."""
    shared = ctx.extra.get(ZONES_KEY)
    return shared if isinstance(shared, LabZones) else build_zones(ctx, ctx.ca.cache_dir)


def _presign_broken(
    ctx: LabContext, zones: LabZones, texts: dict[Name, str], folder: Path
) -> dict[Name, Path]:
    """Each BROKEN zone, signed and spoiled once for every named that serves it."""
    broken = [z for z in zones.zones.values() if z.state == DnssecState.BROKEN]
    if not broken:
        return {}
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    out = {}
    for zone in broken:
        unsigned = folder / file_name(zone.origin)
        unsigned.write_text(texts[zone.origin], encoding="utf-8")
        write_key_files(zone.origin, ctx.ca.cache_dir, folder / "keys")
        signed = unsigned.with_name(unsigned.name + ".signed")
        sign_broken(SIGNZONE, zone, unsigned, folder / "keys", signed)
        out[zone.origin] = signed
    return out


def _ask(ip: str, port: int, query: dns.message.Message) -> dns.message.Message | None:
    try:
        return dns.query.udp(query, ip, port=port, timeout=QUERY_TIMEOUT)
    except (dns.exception.DNSException, OSError):
        return None


def _serving(ip: str, port: int, zones: list[tuple[Name, bool]]) -> Callable[[], bool]:
    """Ready once every zone answers its SOA with authority, signed where it should be:
    named listens before its zones are loaded, and signs them after."""
    pending = list(zones)

    def ready() -> bool:
        while pending:
            origin, signed = pending[0]
            query = dns.message.make_query(origin, RdataType.SOA, want_dnssec=signed)
            response = _ask(ip, port, query)
            if response is None or response.rcode() != dns.rcode.NOERROR:
                return False
            if not response.flags & dns.flags.AA:
                return False
            if signed and not any(r.rdtype == RdataType.RRSIG for r in response.answer):
                return False
            pending.pop(0)
        return True

    return ready


def _recursing(ip: str, port: int) -> Callable[[], bool]:
    """Ready once it answers a recursive question about the lab's root zone."""

    def ready() -> bool:
        response = _ask(ip, port, dns.message.make_query(LAB_ROOT, RdataType.SOA))
        return response is not None and bool(response.flags & dns.flags.RA)

    return ready


BIND = Bind()
