"""OpenSSH's sshd as the real tier's SSH server: one process per service, on its host's
own address, with the lab's host keys and the manifest's logins.

What a client sees is Debian's sshd: its own identification line (read from the binary,
`SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u…`) whatever the manifest's banner says, its
default algorithms when the manifest names a release with the same defaults, and
otherwise the manifest's release's lists configured explicitly (`as_served` records them
as `SshSpec.algorithms_of`, so the ground truth follows). Names the installed OpenSSH no
longer implements (arcfour, blowfish-cbc, cast128-cbc, hmac-ripemd160...) cannot be
configured: such a service stays Python. So does a server that is not OpenSSH.

Every login fails: `DenyUsers *` makes every user invalid, so sshd still names the
manifest's methods in its failure replies (RFC 4252 section 5.2) and accepts nothing.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from utsyn.lab.context import LabContext
from utsyn.lab.manifest import Host, Packaging, Service, ServiceKind
from utsyn.lab.real.daemon import Daemon
from utsyn.lab.real.tree import TreeDaemon
from utsyn.lab.session import idle_timeout_for
from utsyn.lab.ssh import banner, host_key, release_algorithms, served_algorithms

SSHD = "/usr/sbin/sshd"
SSH = "/usr/bin/ssh"  # `ssh -Q`: what this OpenSSH build implements (openssh-client)
# Debian's sshd chroots its unprivileged half here; the package's init script makes it.
PRIVSEP_DIR = Path("/run/sshd")
# sshd's KEXINIT lists, with the `ssh -Q` query that names what the build implements.
_LISTS = (
    ("kex", "KexAlgorithms", "kex"),
    ("cipher", "Ciphers", "cipher"),
    ("mac", "MACs", "mac"),
    ("host_key", "HostKeyAlgorithms", "key-sig"),
)
# Unauthenticated connections sshd keeps before it drops new ones (default 10:30:100):
# a scan opens several per host at once.
MAX_STARTUPS = 256


class OpenSsh:
    name: str = "openssh"
    packages: tuple[str, ...] = ("openssh-server",)
    binaries: tuple[str, ...] = (SSHD, SSH)

    def refusal(self, host: Host, service: Service) -> str | None:
        if service.kind != ServiceKind.SSH:
            return "serves ssh only"
        if "OpenSSH_" not in banner(service):
            return f"the manifest's server is not OpenSSH ({banner(service)})"
        if not Path(SSH).exists():
            return None  # not installed: starting the tier names the package to install
        lists = served_algorithms(self.as_served(host, service))
        missing = [
            name
            for key, _, query in _LISTS
            for name in lists[key]
            if name not in implemented(query)
        ]
        if missing:
            return f"this OpenSSH no longer implements {', '.join(missing)}"
        return None

    def as_served(self, host: Host, service: Service) -> Service:
        """Debian's identification line; the manifest's release's algorithms where its
        defaults differ from this build's."""
        served = identification()
        spec = service.ssh_spec
        wanted = spec.algorithms_of or banner(service)
        if release_algorithms(wanted) != release_algorithms(served):
            spec = spec.model_copy(update={"algorithms_of": wanted})
        return service.model_copy(
            update={
                "banner": served,
                "package": _packaging(served),
                "package_patched": True,  # the installed package, with its fixes
                "ssh": spec,
            }
        )

    def daemons(
        self, ctx: LabContext, served: Sequence[tuple[Host, Service]], root: Path
    ) -> list[Daemon]:
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        daemons: list[Daemon] = []
        for host, service in served:
            port = service.effective_port
            folder = root / f"{host.name}-{port}"
            folder.mkdir(parents=True, exist_ok=True)
            ips = [ctx.addresses[host.name]] + (["::1"] if host.ipv6 else [])
            config = folder / "sshd_config"
            pidfile = folder / "sshd.pid"
            lines = _config(ctx, self.as_served(host, service), folder, ips, pidfile)
            config.write_text("\n".join(lines) + "\n", encoding="utf-8")
            log = folder / "sshd.log"
            daemons.append(
                TreeDaemon(
                    name=self.name,
                    argv=[SSHD, "-f", str(config), "-E", str(log)],
                    pidfile=pidfile,
                    log=log,
                    listens=[(ip, port) for ip in ips],
                )
            )
        return daemons


OPENSSH = OpenSsh()


def _config(
    ctx: LabContext, service: Service, folder: Path, ips: list[str], pidfile: Path
) -> list[str]:
    spec = service.ssh_spec
    port = service.effective_port
    lines = [f"ListenAddress {f'[{ip}]' if ':' in ip else ip}:{port}" for ip in ips]
    lines += [f"PidFile {pidfile}"]
    for kind in spec.host_keys:
        path = folder / f"ssh_host_{kind}_key"
        _write_private(path, host_key(kind, ctx.ca.cache_dir).export_private_key())
        lines.append(f"HostKey {path}")
    lists = served_algorithms(service)
    # The host key algorithms always: ssh-dss is off by default and must be named. The
    # others only for another release's lists; else sshd's own defaults are what it offers.
    for key, keyword, _ in _LISTS:
        if key == "host_key" or spec.algorithms_of is not None:
            lines.append(f"{keyword} {','.join(lists[key])}")
    yes = {True: "yes", False: "no"}
    lines += [
        f"PubkeyAuthentication {yes['publickey' in spec.auth]}",
        f"PasswordAuthentication {yes['password' in spec.auth]}",
        f"KbdInteractiveAuthentication {yes['keyboard-interactive' in spec.auth]}",
        "UsePAM no",  # no PAM stack: keyboard-interactive is still named, and fails
        "DenyUsers *",
        "AuthorizedKeysFile none",
        "PermitRootLogin no",
        "PermitEmptyPasswords no",
        "DisableForwarding yes",
        "PermitTTY no",
        "PrintMotd no",
        "StrictModes no",
        f"LoginGraceTime {max(1, round(idle_timeout_for(ctx)))}",
        f"MaxStartups {MAX_STARTUPS}",
        "LogLevel INFO",
    ]
    return lines


def _write_private(path: Path, data: bytes) -> None:
    """sshd ignores a host key others may read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    os.chmod(path, 0o600)


@functools.cache
def identification() -> str:
    """What this sshd sends first: "SSH-2.0-" and the version string compiled into it
    (Debian's build appends its package revision, `DebianBanner yes` by default)."""
    try:
        data = Path(SSHD).read_bytes()
    except OSError:
        return "SSH-2.0-OpenSSH"  # not installed: the tier will not start
    found: list[bytes] = re.findall(rb"\x00(OpenSSH_\d+\.\d+(?:p\d+)?(?: [\x21-\x7e]+)?)\x00", data)
    if not found:
        return "SSH-2.0-OpenSSH"
    return "SSH-2.0-" + max(found, key=len).decode("ascii")


@functools.cache
def implemented(query: str) -> frozenset[str]:
    """The names `ssh -Q <query>` lists: what this OpenSSH build can offer."""
    done = subprocess.run([SSH, "-Q", query], capture_output=True, text=True, check=False)
    return frozenset(done.stdout.split())


def _packaging(identification: str) -> Packaging:
    if "Debian" in identification:
        return Packaging.DEBIAN
    if "Ubuntu" in identification:
        return Packaging.UBUNTU
    return Packaging.UPSTREAM
