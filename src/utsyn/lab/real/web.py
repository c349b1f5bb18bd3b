"""What the real tier's web servers (nginx, Apache httpd) share: which sites they take, the
files a site serves, its certificate and the Server banner they really send.

Which software serves a site is decided by the product its Server header names: a site
whose manifest says `server: nginx...` is nginx's, `server: Apache...` is Apache httpd's.
Neither sends another product's name (Apache's mod_headers cannot touch the Server
header, and nginx's headers-more module is a package the real tier does not ask for), so a
site that claims to be IIS, or sends no Server header at all, stays on the Python tier,
as do TLS profiles OpenSSL 3.0 cannot serve (`tlsprofile`).
The version and distribution in the banner are the installed package's: `as_served`
rewrites the spec to them, which is the real tier's ground truth.

A site's files are rendered by the Python tier's own page code (`lab.http.pages`) and
written under the server's root, so both tiers serve the same pages; the servers' own
behaviour (error pages, content types, directory listings, redirects) is theirs.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from utsyn.errors import LabError
from utsyn.lab.context import LabContext
from utsyn.lab.http.pages import (
    MTA_STS_PATH,
    SECURITY_TXT_PATH,
    Site,
    backup_files,
    exposure,
    home_page,
    mta_sts_policy,
    well_known,
)
from utsyn.lab.http.requests import parse_request
from utsyn.lab.http.responses import configured_headers
from utsyn.lab.manifest import Host, Packaging, Service, ServiceKind
from utsyn.lab.real import tlsprofile
from utsyn.lab.specs import Exposure, HttpSpec

WEB_KINDS = frozenset({ServiceKind.HTTP, ServiceKind.HTTPS})
_VERSION_NUMBER = re.compile(r"\d+\.\d+")  # as lab.expected reads a banner's version


# ---------------------------------------------------------------- which sites


def product(server: str | None) -> str | None:
    """The product a Server header names, lower-cased: "nginx", "apache", "microsoft-iis"."""
    if not server:
        return None
    return server.split("/", 1)[0].split(" ", 1)[0].strip().lower()


def refusal(service: Service, software: str) -> str | None:
    """Why `software` ("nginx", "apache") cannot serve this service, or None."""
    if service.kind not in WEB_KINDS:
        return f"{software} serves http and https only"
    spec = http_of(service)
    if spec.server is None:
        return f"the site sends no Server header, and {software} always sends one"
    named = product(spec.server)
    if named != software:
        return f"the Server header names {spec.server!r}, not {software}"
    if service.tls is not None:
        return tlsprofile.refusal(service.tls)
    return None


def http_of(service: Service) -> HttpSpec:
    if service.http is None:
        raise LabError(
            "%(kind)s service on port %(port)s has no http spec",
            kind=service.kind,
            port=service.effective_port,
        )
    return service.http


def header_values(spec: HttpSpec) -> list[tuple[str, str]]:
    """The headers every answer of the site carries, exactly as the Python tier sends them."""
    return configured_headers(spec)


def configured_values(spec: HttpSpec) -> list[str]:
    """Every text the site's configuration must carry: header values, cookies, the redirect."""
    return [v for _, v in header_values(spec)] + list(spec.cookies) + [spec.redirect or ""]


def unprintable(spec: HttpSpec) -> str | None:
    """A header value or redirect no configuration file can carry (control characters)."""
    for value in configured_values(spec):
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            return f"the value {value!r} has control characters"
    return None


# ---------------------------------------------------------------- as served


def as_served(service: Service, server: str) -> Service:
    """`service` with the Server header the installed package really sends.

    The package is Debian's and kept up to date (`package: debian`, patched), which is the
    truth about the software the banner names once it names a version. Where X-Powered-By
    names a version too, the manifest's packaging stays: it is that software's (the lab
    sends the header verbatim), and a service is really vulnerable if either is.
    """
    spec = http_of(service)
    update: dict[str, object] = {"http": spec.model_copy(update={"server": server})}
    if _announces_version(server) and not _announces_version(spec.powered_by):
        update |= {"package": Packaging.DEBIAN, "package_patched": True}
    return service.model_copy(update=update)


def _announces_version(text: str | None) -> bool:
    return text is not None and _VERSION_NUMBER.search(text) is not None


def installed_version(argv: Sequence[str], pattern: str) -> str:
    """The first group of `pattern` in what `argv` prints (`nginx -v`, `apache2 -v`)."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError as exc:
        raise LabError(
            "cannot run %(program)s: %(reason)s", program=argv[0], reason=exc.strerror
        ) from exc
    found = re.search(pattern, done.stdout + done.stderr)
    if found is None:
        raise LabError(
            "%(command)s printed no version: %(output)r",
            command=" ".join(argv),
            output=done.stderr.strip(),
        )
    return found.group(1)


# ---------------------------------------------------------------- files of a site


@dataclass(frozen=True)
class SiteFiles:
    """Where one site's files were written, and what the server must be told about them."""

    name: str  # "www.ddb.test-443": the site's folder name
    docroot: Path
    policies: dict[str, Path]  # MTA-STS host name → its policy file (outside the docroot)
    listing: bool  # /backup/ must be listed


def site_name(host: Host, service: Service) -> str:
    return f"{host.name}-{service.effective_port}"


def addresses(ctx: LabContext, host: Host) -> list[str]:
    """The addresses a host's services listen on (::1 too for the manifest's IPv6 host)."""
    return [ctx.addresses[host.name]] + (["::1"] if host.ipv6 else [])


def scheme(service: Service) -> str:
    return "https" if service.kind == ServiceKind.HTTPS else "http"


def write_site(ctx: LabContext, host: Host, service: Service, www: Path, sts: Path) -> SiteFiles:
    """Write the site's pages under `www/<site>` and its MTA-STS policies under `sts/<site>`."""
    spec = http_of(service)
    name = site_name(host, service)
    site = Site(spec, host, ctx.organisation_of(host), scheme(service), datetime.now(UTC))
    docroot = www / name
    docroot.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {"/index.html": home_page(site).body}
    for path in ("/robots.txt", SECURITY_TXT_PATH):
        content = well_known(path, site)
        if content is not None:
            files[path] = content.body
    for path in ("/.git/HEAD", "/.git/config", "/.env"):
        content = exposure(path, site)
        if content is not None:
            files[path] = content.body
    for path, body in files.items():
        _write(docroot / path.lstrip("/"), body)
    listing = Exposure.DIRECTORY_LISTING in spec.exposed
    if listing:
        _write_backups(site, docroot / "backup")
    policies = {}
    for policy_host in _policy_hosts(ctx, host):
        text = _policy(ctx, host, policy_host)
        if text is not None:
            policies[policy_host] = sts / name / f"{policy_host}.txt"
            _write(policies[policy_host], text.encode())
    return SiteFiles(name, docroot, policies, listing)


def _write(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)


def _write_backups(site: Site, folder: Path) -> None:
    """The files a backup job left: sparse, with their sizes and dates, for a real listing."""
    folder.mkdir(parents=True, exist_ok=True)
    for filename, size, when in backup_files(site):
        path = folder / filename
        with path.open("wb") as handle:
            handle.truncate(size)
        stamp = when.timestamp()
        os.utime(path, (stamp, stamp))


def _policy_hosts(ctx: LabContext, host: Host) -> list[str]:
    """The mta-sts.<domain> names whose policy this host may serve."""
    names = {host.name, *host.aliases}
    found = {n for n in names if n.startswith("mta-sts.")}
    for org in ctx.manifest.organisations:
        for domain in org.domains:
            if domain.mta_sts is not None and domain.mta_sts.policy_host in names:
                found.add(f"mta-sts.{domain.name}")
    return sorted(found)


def _policy(ctx: LabContext, host: Host, name: str) -> str | None:
    """The policy the Python tier answers for `name`, asked for as a client asks for it."""
    raw = f"GET {MTA_STS_PATH} HTTP/1.1\r\nHost: {name}\r\n\r\n".encode()
    return mta_sts_policy(parse_request(raw), host, ctx)


@dataclass(frozen=True)
class TlsFiles:
    chain: Path  # leaf first, as the CertSpec says (without the intermediate, if so)
    key: Path
    settings: tlsprofile.TlsSettings
    dhparam: Path | None  # the DHE group, when the profile offers DHE


def tls_files(ctx: LabContext, host: Host, service: Service, folder: Path) -> TlsFiles:
    """The site's certificate from the lab CA, copied under `folder`, and its TLS settings."""
    if service.tls is None:
        raise LabError(
            "%(host)s:%(port)s has no TLS profile", host=host.name, port=service.effective_port
        )
    creds = ctx.ca.issue([host.name, *host.aliases], service.tls.cert)
    folder.mkdir(parents=True, exist_ok=True)
    name = site_name(host, service)
    chain, key = folder / f"{name}.pem", folder / f"{name}.key"
    chain.write_bytes(creds.chain_pem)
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(creds.key_pem)
    settings = tlsprofile.tls_settings(service.tls, creds)
    dhparam = None
    if settings.dh_bits is not None:
        dhparam = folder / f"dh{settings.dh_bits}.pem"
        dhparam.write_bytes(tlsprofile.dh_params_pem(settings.dh_bits))
    return TlsFiles(chain, key, settings, dhparam)
