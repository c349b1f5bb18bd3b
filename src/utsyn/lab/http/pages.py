"""What a lab site serves, as content before the common headers: the home page, the
well-known files (robots.txt, security.txt, the MTA-STS policy), the exposures a manifest
asks for (.git, .env, a backup directory listing) and nginx's error pages."""

from __future__ import annotations

import base64
import hashlib
import html
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

from utsyn.lab.context import LabContext
from utsyn.lab.http.requests import Request
from utsyn.lab.manifest import Domain, Host, Organisation
from utsyn.lab.specs import Exposure, HttpSpec, ScriptRef, SecurityTxt

SECURITY_TXT_PATH = "/.well-known/security.txt"
MTA_STS_PATH = "/.well-known/mta-sts.txt"
HTML_TYPE = "text/html; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Content:
    """What routing decides; `_finish` turns it into a Response with the common headers."""

    status: int
    body: bytes
    content_type: str = HTML_TYPE
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Site:
    """Everything a page is rendered from."""

    spec: HttpSpec
    host: Host
    org: Organisation
    scheme: str
    now: datetime

    @property
    def mail_domain(self) -> str:
        if self.org.primary_domain:
            return self.org.primary_domain
        if self.org.domains:
            return self.org.domains[0].name
        return self.host.name.split(".", 1)[1] if self.host.name.count(".") > 1 else self.host.name


def status_page(status: int, spec: HttpSpec, headers: tuple[tuple[str, str], ...] = ()) -> Content:
    """nginx's error page, naming the server as nginx does with server_tokens on."""
    title = f"{status} {HTTPStatus(status).phrase}"
    footer = f"<hr><center>{html.escape(spec.server)}</center>\n" if spec.server else ""
    page = (
        f"<html>\n<head><title>{title}</title></head>\n<body>\n"
        f"<center><h1>{title}</h1></center>\n{footer}</body>\n</html>\n"
    )
    return Content(status, page.encode(), HTML_TYPE, headers)


# ---------------------------------------------------------------- well-known files


def well_known(path: str, site: Site) -> Content | None:
    if path == "/robots.txt":
        return _text("User-agent: *\nDisallow: /admin/\nDisallow: /sok/\n")
    if path == SECURITY_TXT_PATH and site.spec.security_txt is not SecurityTxt.MISSING:
        return _text(_security_txt(site))
    return None


def _security_txt(site: Site) -> str:
    """RFC 9116: Contact and Expires are required; an expired file is as good as none."""
    if site.spec.security_txt is SecurityTxt.VALID:
        expires = site.now + timedelta(days=180)
    else:
        expires = site.now - timedelta(days=60)
    return (
        f"# Sikkerhetskontakt for {site.org.name}\n"
        f"Contact: mailto:sikkerhet@{site.mail_domain}\n"
        f"Expires: {expires.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}\n"
        "Preferred-Languages: nb, nn, en\n"
        f"Canonical: {site.scheme}://{site.host.name}{SECURITY_TXT_PATH}\n"
    )


def mta_sts_policy(request: Request, host: Host, ctx: LabContext) -> str | None:
    """The RFC 8461 policy, when asked for by its own name on the host that serves it."""
    if request.path != MTA_STS_PATH or request.host is None:
        return None
    if not request.host.startswith("mta-sts."):
        return None
    domain = _domain_named(request.host.removeprefix("mta-sts."), ctx)
    if domain is None or domain.mta_sts is None:
        return None
    names = {host.name, *host.aliases}
    if request.host not in names and domain.mta_sts.policy_host not in names:
        return None  # a misrouted request: this host is not the policy host
    lines = [
        "version: STSv1",
        f"mode: {domain.mta_sts.mode}",
        *(f"mx: {mx}" for mx in domain.mx),
        f"max_age: {domain.mta_sts.max_age}",
    ]
    return "\r\n".join(lines) + "\r\n"  # RFC 8461 section 3.2: CRLF line ends


def _domain_named(name: str, ctx: LabContext) -> Domain | None:
    domains = (d for org in ctx.manifest.organisations for d in org.domains)
    return next((d for d in domains if d.name == name), None)


# ---------------------------------------------------------------- exposures


def exposure(path: str, site: Site) -> Content | None:
    exposed = site.spec.exposed
    if Exposure.GIT in exposed and path == "/.git/HEAD":
        return _text("ref: refs/heads/main\n")
    if Exposure.GIT in exposed and path == "/.git/config":
        return _text(_git_config(site))
    if Exposure.ENV in exposed and path == "/.env":
        return _text(_dotenv(site))
    if Exposure.DIRECTORY_LISTING in exposed and path == "/backup":
        # Real servers add the slash to a directory before listing it.
        return status_page(301, site.spec, (("Location", "/backup/"),))
    if Exposure.DIRECTORY_LISTING in exposed and path == "/backup/":
        return Content(200, _directory_listing(site).encode())
    return None


def _text(body: str) -> Content:
    return Content(200, body.encode(), TEXT_TYPE)


def _fake_secret(site: Site, label: str, size: int = 32) -> bytes:
    # Derived from the host name so the lab is reproducible; these guard nothing anywhere.
    return hashlib.sha256(f"utsyn-lab:{site.host.name}:{label}".encode()).digest()[:size]


def _git_config(site: Site) -> str:
    return (
        "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n"
        f'[remote "origin"]\n\turl = https://git.{site.mail_domain}/web/{site.host.name}.git\n'
        "\tfetch = +refs/heads/*:refs/remotes/origin/*\n"
        '[branch "main"]\n\tremote = origin\n\tmerge = refs/heads/main\n'
    )


def _dotenv(site: Site) -> str:
    slug = site.org.slug.replace("-", "_")
    app_key = base64.b64encode(_fake_secret(site, "app-key")).decode()
    lines = [
        f'APP_NAME="{site.org.name}"',
        "APP_ENV=production",
        "APP_DEBUG=false",
        f"APP_KEY=base64:{app_key}",
        f"APP_URL=https://{site.host.name}",
        "DB_CONNECTION=mysql",
        "DB_HOST=127.0.0.1",
        "DB_PORT=3306",
        f"DB_DATABASE={slug}",
        f"DB_USERNAME={slug}_web",
        f"DB_PASSWORD={_fake_secret(site, 'db', 12).hex()}",
        f"MAIL_HOST=smtp.{site.mail_domain}",
        "MAIL_PORT=587",
        f"MAIL_FROM_ADDRESS=noreply@{site.mail_domain}",
    ]
    return "\n".join(lines) + "\n"


def backup_files(site: Site) -> list[tuple[str, int, datetime]]:
    """(name, size, modified) of the files a backup job would leave in /backup/: listed here,
    and written as real (sparse) files for the real tier's servers to list."""
    files = []
    for days_ago, name in ((1, "{slug}-db-{date}.sql.gz"), (8, "www-{date}.tar.gz")):
        when = site.now - timedelta(days=days_ago)
        filename = name.format(slug=site.org.slug, date=when.strftime("%Y-%m-%d"))
        files.append((filename, int.from_bytes(_fake_secret(site, filename, 3)) * 64, when))
    return files


def _directory_listing(site: Site) -> str:
    """nginx autoindex output, with files whose names and sizes a backup job would leave."""
    rows = ['<a href="../">../</a>']
    for filename, size, when in backup_files(site):
        link = f'<a href="{filename}">{filename}</a>'
        rows.append(f"{link}{' ' * (51 - len(filename))}{when:%d-%b-%Y %H:%M} {size:>19}")
    return (
        "<html>\n<head><title>Index of /backup/</title></head>\n<body>\n"
        "<h1>Index of /backup/</h1><hr><pre>" + "\n".join(rows) + "\n</pre><hr></body>\n</html>\n"
    )


# ---------------------------------------------------------------- the home page


def home_page(site: Site) -> Content:
    cookies = tuple(("Set-Cookie", cookie) for cookie in site.spec.cookies)
    return Content(200, _home_html(site).encode(), HTML_TYPE, cookies)


def _home_html(site: Site) -> str:
    spec, org, esc = site.spec, site.org, html.escape
    head = [
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(spec.title or org.name)}</title>",
        f'<link rel="canonical" href="{site.scheme}://{site.host.name}/">',
    ]
    if spec.generator is not None:
        head.append(f'<meta name="generator" content="{esc(spec.generator)}">')
    head += [_asset_tag(ref) for ref in spec.scripts]
    body = [
        f"<header><h1>{esc(org.name)}</h1>",
        '<nav><a href="/tjenester/">Tjenester</a> <a href="/nyheter/">Nyheter</a> '
        '<a href="/innsyn/">Politikk og innsyn</a> <a href="/kontakt/">Kontakt oss</a></nav>',
        "</header>",
        "<main>",
        f"<p>Velkommen til nettsidene til {esc(org.name)}. Her finner du informasjon om "
        "våre tjenester, nyheter og hvordan du kommer i kontakt med oss.</p>",
        *_optional_body(site),
        "</main>",
        f"<footer>{esc(org.name)} · Org.nr. {org.orgnr} · "
        f"E-post: postmottak@{esc(site.mail_domain)}</footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="nb">\n<head>\n'
        + "\n".join(head)
        + "\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _optional_body(site: Site) -> list[str]:
    parts: list[str] = []
    if site.spec.mixed_content:
        parts.append(
            f'<img src="http://{site.host.name}/bilder/logo.png" '
            f'alt="Logo for {html.escape(site.org.name)}">'
        )
    if site.spec.login_form:
        parts += [
            '<form method="post" action="/logg-inn">',
            '<label for="brukernavn">Brukernavn</label>',
            '<input id="brukernavn" name="brukernavn" type="text" autocomplete="username">',
            '<label for="passord">Passord</label>',
            '<input id="passord" name="passord" type="password" autocomplete="current-password">',
            '<button type="submit">Logg inn</button>',
            "</form>",
        ]
    return parts


def _asset_tag(ref: ScriptRef) -> str:
    src = html.escape(ref.src)
    attrs = ""
    if ref.integrity:
        # The lab does not serve the referenced file; the digest stands for a pinned
        # version and is well-formed and deterministic, which is all a scanner can check.
        digest = base64.b64encode(hashlib.sha384(ref.src.encode()).digest()).decode()
        attrs = f' integrity="sha384-{digest}" crossorigin="anonymous"'
    if ref.kind == "style":
        return f'<link rel="stylesheet" href="{src}"{attrs}>'
    return f'<script src="{src}"{attrs}></script>'
