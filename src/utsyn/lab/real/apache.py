"""Apache httpd (Debian's apache2) serving the lab's web sites whose Server header names Apache.

Which sites are Apache's and which nginx's is `web.refusal`'s rule: the product the
manifest's Server header names ("Apache/2.4.62 (Debian)" is Apache's; "nginx" is nginx's;
IIS or no Server header stays on the Python tier). Apache also refuses what mod_ssl
cannot serve: NULL and anonymous suites (it appends !aNULL:!eNULL to every cipher list),
and a gap in the TLS versions (TLS 1.0 and 1.2 without 1.1: it sets a minimum and a
maximum version and serves the range between).

Apache says as much of itself as `ServerTokens` lets it, a setting of the whole server, so
one process runs per level the sites need: "Apache" (Prod), "Apache/2" (Major), "Apache/2.4"
(Minor), "Apache/2.4.71" (Minimal), and "Apache/2.4.71 (Debian)" (OS) for anything longer,
as the version and distribution are the installed package's (`apache2 -v`).

Each process runs `/usr/sbin/apache2 -d <root> -f <root>/apache2.conf` with Debian's
APACHE_* variables pointed under its root, loads the modules it needs from
/usr/lib/apache2/modules and includes nothing from /etc/apache2. Apache will not serve as
root, so as root its children drop to www-data; to read the sites' files wherever the lab's
state lives (a folder only root can enter, say), they are chrooted (`ChrootDir`) to the
root's jail/, where the sites' files are. glibc loads libgcc_s when a thread exits, which
it cannot do inside the jail, so it is preloaded.
"""

from __future__ import annotations

import functools
import grp
import os
import pwd
import re
import shutil
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from utsyn.lab.context import IDLE_TIMEOUT, LabContext
from utsyn.lab.manifest import Host, Service, ServiceKind
from utsyn.lab.real import web
from utsyn.lab.real.daemon import Daemon
from utsyn.lab.real.tlsprofile import ORDER
from utsyn.lab.specs import CipherClass, HttpSpec, TlsSpec

APACHE_BIN = "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")
# mod_log_config and mod_unixd are built in (`apache2 -l`).
_MODULES = (
    "mpm_event",
    "authz_core",
    "mime",
    "dir",
    "autoindex",
    "alias",
    "rewrite",
    "headers",
    "ssl",
    "socache_shmcb",
)
_TYPES = {"text/html": "html htm", "text/plain": "txt", "text/css": "css", "text/javascript": "js"}
_TOKENS = ("Prod", "Major", "Minor", "Minimal", "OS")


@functools.cache
def installed() -> tuple[str, str]:
    """The installed Apache's version and distribution: ("2.4.71", "Debian")."""
    text = web.installed_version([APACHE_BIN, "-v"], r"Server version: (Apache/\S+(?: \(\S+\))?)")
    found = re.fullmatch(r"Apache/(\S+)(?: \((\S+)\))?", text)
    assert found is not None
    return found.group(1), found.group(2) or ""


def server_tokens(server: str) -> str:
    """The ServerTokens level closest to a manifest's Server header."""
    found = re.fullmatch(r"[^/ ]+(?:/([0-9.]+))?(.*)", server.strip())
    if found is None or found.group(1) is None:
        return "Prod"
    if found.group(2).strip():
        return "OS"
    parts = len(found.group(1).split("."))
    return _TOKENS[min(parts, 3)]


def banner(tokens: str) -> str:
    """What Apache sends as its Server header at this ServerTokens level."""
    version, distribution = installed()
    shown = {
        "Prod": "",
        "Major": version.split(".")[0],
        "Minor": ".".join(version.split(".")[:2]),
        "Minimal": version,
        "OS": version,
    }[tokens]
    text = f"Apache/{shown}" if shown else "Apache"
    return f"{text} ({distribution})" if tokens == "OS" and distribution else text


class Apache:
    name = "apache"
    packages: tuple[str, ...] = ("apache2",)
    binaries: tuple[str, ...] = (APACHE_BIN, str(MODULES / "mod_ssl.so"))

    def refusal(self, host: Host, service: Service) -> str | None:
        reason = web.refusal(service, self.name)
        if reason is not None:
            return reason
        if service.tls is not None and {CipherClass.NULL, CipherClass.ANON} & set(
            service.tls.ciphers
        ):
            return "cipher classes null and anon: mod_ssl always appends !aNULL:!eNULL"
        if service.tls is not None and _has_gap(service.tls):
            return "a gap in the TLS versions: mod_ssl serves all between its lowest and highest"
        spec = web.http_of(service)
        values = web.configured_values(spec)
        if any("\\" in v for v in values):
            return "a header value or redirect has a backslash, which Apache's quoting cannot carry"
        return web.unprintable(spec)

    def as_served(self, host: Host, service: Service) -> Service:
        return web.as_served(service, banner(server_tokens(web.http_of(service).server or "")))

    def daemons(
        self, ctx: LabContext, served: Sequence[tuple[Host, Service]], root: Path
    ) -> list[Daemon]:
        groups: dict[str, list[tuple[Host, Service]]] = defaultdict(list)
        for host, service in served:
            groups[server_tokens(web.http_of(service).server or "")].append((host, service))
        return [
            _daemon(ctx, tokens, sites, root.resolve() / tokens.lower())
            for tokens, sites in sorted(groups.items())
        ]


def _has_gap(tls: TlsSpec) -> bool:
    offered = [i for i, v in enumerate(ORDER) if v in tls.versions]
    return offered != list(range(offered[0], offered[-1] + 1))


def _daemon(
    ctx: LabContext, tokens: str, sites: Sequence[tuple[Host, Service]], root: Path
) -> Daemon:
    for folder in ("tls", "jail"):
        # A file of an earlier start (an exposure the manifest no longer has) must go.
        shutil.rmtree(root / folder, ignore_errors=True)
    for folder in ("run", "lock", "logs", "tls", "jail"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    jailed = os.geteuid() == 0
    user, group = (
        _run_user()
        if jailed
        else (pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name)
    )
    (root / "mime.types").write_text(
        "".join(f"{kind}\t{exts}\n" for kind, exts in _TYPES.items()), encoding="ascii"
    )
    hosts = [_virtual_host(ctx, host, service, root, jailed) for host, service in sites]
    _open_jail(root / "jail")
    conf = root / "apache2.conf"
    conf.write_text(_main_config(root, tokens, jailed, hosts), encoding="utf-8")
    listens = [
        (ip, service.effective_port) for host, service in sites for ip in web.addresses(ctx, host)
    ]
    env = {
        "APACHE_RUN_DIR": str(root / "run"),
        "APACHE_LOCK_DIR": str(root / "lock"),
        "APACHE_LOG_DIR": str(root / "logs"),
        "APACHE_PID_FILE": str(root / "run" / "apache2.pid"),
        "APACHE_RUN_USER": user,
        "APACHE_RUN_GROUP": group,
        "LANG": "C",
    }
    if jailed:
        env["LD_PRELOAD"] = "libgcc_s.so.1"  # thread exit inside the jail (module docstring)
    argv = [APACHE_BIN, "-d", str(root), "-f", str(conf)]
    log = root / "logs" / "error.log"
    return Daemon("apache", argv, root / "run" / "apache2.pid", log, listens, env)


def _run_user() -> tuple[str, str]:
    for user, group in (("www-data", "www-data"), ("nobody", "nogroup")):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return user, group
    return "#65534", "#65534"


def _open_jail(jail: Path) -> None:
    """The children (www-data) read the jail; root owns it and only root writes to it."""
    for folder, _, names in os.walk(jail):
        os.chmod(folder, 0o755)
        for name in names:
            os.chmod(os.path.join(folder, name), 0o644)


def _main_config(root: Path, tokens: str, jailed: bool, hosts: list[str]) -> str:
    modules = "".join(f"LoadModule {m}_module {MODULES}/mod_{m}.so\n" for m in _MODULES)
    jail = f"ChrootDir {root}/jail\n" if jailed else ""
    return (
        "# Written by utsyn.lab.real.apache from the lab manifest at every start.\n"
        f'ServerRoot "{root}"\n'
        "ServerName localhost\n"
        "DefaultRuntimeDir ${APACHE_RUN_DIR}\n"
        "PidFile ${APACHE_PID_FILE}\n"
        "Mutex file:${APACHE_LOCK_DIR} default\n"
        f"{modules}"
        "User ${APACHE_RUN_USER}\n"
        "Group ${APACHE_RUN_GROUP}\n"
        f"{jail}"
        "ErrorLog ${APACHE_LOG_DIR}/error.log\n"
        "LogLevel warn\n"
        'LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{Host}i\\"" lab\n'
        "CustomLog ${APACHE_LOG_DIR}/access.log lab\n"
        f"TypesConfig {root}/mime.types\n"
        "AddDefaultCharset utf-8\n"
        f"ServerTokens {tokens}\n"
        "ServerSignature Off\n"
        "HostnameLookups Off\n"
        f"KeepAliveTimeout {int(IDLE_TIMEOUT)}\n"
        # A scan opens up to 4 connections to each of 64 hosts at once; fewer workers than
        # that queue handshakes, on a loaded machine past the scanner's 5-second timeout.
        "StartServers 2\nServerLimit 16\nThreadsPerChild 25\nMaxRequestWorkers 400\n"
        "SSLSessionCache shmcb:${APACHE_RUN_DIR}/ssl_scache(512000)\n"
        "SSLSessionTickets off\n"
        "<Directory />\n    Require all denied\n    Options None\n    AllowOverride None\n"
        "</Directory>\n" + "".join(hosts)
    )


def _virtual_host(ctx: LabContext, host: Host, service: Service, root: Path, jailed: bool) -> str:
    spec = web.http_of(service)
    jail = root / "jail"
    files = web.write_site(ctx, host, service, jail / "www", jail / "mta-sts")

    def inside(path: Path) -> str:
        # The children see the jail as "/"; the parent, which reads the configuration, does not.
        return "/" + str(path.relative_to(jail)) if jailed else str(path)

    port = service.effective_port
    ips = web.addresses(ctx, host)
    https = service.kind == ServiceKind.HTTPS
    listen = "".join(f"Listen {_address(ip)}:{port}{' https' if https else ''}\n" for ip in ips)
    lines = [f"ServerName {host.name}"]
    if host.aliases:
        lines.append(f"ServerAlias {' '.join(host.aliases)}")
    docroot = inside(files.docroot)
    lines += [
        f'DocumentRoot "{docroot}"',
        f'<Directory "{docroot}">',
        "    Require all granted",
        "</Directory>",
    ]
    if https:
        lines += _tls_lines(ctx, host, service, root / "tls")
    lines += [
        f"Header always set {name} {_quote(value, True)}" for name, value in web.header_values(spec)
    ]
    if spec.redirect is not None:
        lines += _redirect(spec.redirect)
    else:
        lines += _content(spec, files, inside)
    vhost = " ".join(f"{_address(ip)}:{port}" for ip in ips)
    body = "".join(f"    {line}\n" for line in lines)
    return f"{listen}<VirtualHost {vhost}>\n{body}</VirtualHost>\n"


def _redirect(target: str) -> list[str]:
    # Like the Python tier: every path, the path kept after a "/" target (mod_alias appends
    # the rest of the path to a "/" prefix match).
    if target.endswith("/"):
        return [f"Redirect permanent / {_quote(target)}"]
    return [f"RedirectMatch permanent ^ {_quote(target)}"]


def _content(spec: HttpSpec, files: web.SiteFiles, inside: Callable[[Path], str]) -> list[str]:
    lines = [
        '<Files "index.html">',
        *(f"    Header always add Set-Cookie {_quote(c, True)}" for c in spec.cookies),
        "</Files>",
    ]
    if files.listing:
        lines += [
            f'<Directory "{inside(files.docroot / "backup")}">',
            "    Options +Indexes",
            "</Directory>",
        ]
    if files.policies:
        lines.append("RewriteEngine on")
        for name, path in files.policies.items():
            lines += [
                f'<Directory "{inside(path.parent)}">',
                "    Require all granted",
                "</Directory>",
                f"RewriteCond %{{HTTP_HOST}} ^{re.escape(name)}\\.?(:[0-9]+)?$ [NC]",
                f'RewriteRule ^/\\.well-known/mta-sts\\.txt$ "{inside(path)}" [L]',
            ]
    if spec.catch_all:
        # Real files win; every other path answers the home page (a single-page-app fallback).
        lines.append("FallbackResource /index.html")
    return lines


def _tls_lines(ctx: LabContext, host: Host, service: Service, folder: Path) -> list[str]:
    tls = web.tls_files(ctx, host, service, folder)
    settings = tls.settings
    lines = [
        f"# TLS: {'Mozilla ' + settings.profile if settings.profile else 'the lab profile'}",
        "SSLEngine on",
        f'SSLCertificateFile "{tls.chain}"',
        f'SSLCertificateKeyFile "{tls.key}"',
        f"SSLProtocol -all {' '.join('+' + p for p in settings.protocols)}",
        f"SSLCipherSuite {_quote(settings.ciphers)}",
        f"SSLHonorCipherOrder {'on' if settings.prefer_server_ciphers else 'off'}",
    ]
    if settings.curves:
        lines.append(f"SSLOpenSSLConfCmd Curves {':'.join(settings.curves)}")
    if tls.dhparam is not None:
        # mod_ssl reads a DHE group appended to the certificate file, as its manual advises;
        # `SSLOpenSSLConfCmd DHParameters` fails in OpenSSL 3.0's decoder on the same file.
        with tls.chain.open("ab") as chain:
            chain.write(tls.dhparam.read_bytes())
    return lines


def _address(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def _quote(value: str, header: bool = False) -> str:
    """A double-quoted Apache argument; in a mod_headers value, "%" starts a format."""
    if header:
        value = value.replace("%", "%%")
    return '"' + value.replace('"', '\\"') + '"'


APACHE = Apache()
