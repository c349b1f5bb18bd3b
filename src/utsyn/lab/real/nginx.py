"""nginx (Debian's package) serving the lab's web sites whose Server header names nginx.

Which sites are nginx's and which Apache httpd's is `web.refusal`'s rule: the product the
manifest's Server header names. nginx also refuses a value with `$` (its configuration has
no escape for it: a header value or redirect would be read as a variable).

One nginx process serves every site it takes: one `server` block per (host, port), the
default server of each of the host's addresses, so any Host header reaches it (a catch-all
per IP, as the Python tier answers whatever the Host). `server_tokens off` sends "nginx" where
the manifest says just "nginx"; otherwise the version really installed (`nginx -v`).
Headers use `add_header ... always`, so errors and redirects carry them as the Python
tier's do; the home page's `location` repeats them with the cookies, as nginx inherits
`add_header` only into blocks that set none of their own.

Everything lives under the root the real tier gives: nginx.conf, run/ (pid, lock),
logs/, tmp/ (request bodies and the like), tls/ (certificates copied from the lab CA),
www/ (the sites' files) and mta-sts/ (policies, served by the name they are asked for).
nginx runs as `nginx -e <root>/logs/error.log -p <root>/ -c <root>/nginx.conf` and nothing
in /etc is read or written.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from utsyn.lab.context import IDLE_TIMEOUT, LabContext
from utsyn.lab.manifest import Host, Service, ServiceKind
from utsyn.lab.real import web
from utsyn.lab.real.daemon import Daemon

NGINX_BIN = "/usr/sbin/nginx"
_TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
_TYPES = {"text/html": "html htm", "text/plain": "txt", "text/css": "css", "text/javascript": "js"}


@functools.cache
def version() -> str:
    """The installed nginx's version, as its Server header names it ("1.22.1")."""
    return web.installed_version([NGINX_BIN, "-v"], r"nginx/(\S+)")


def banner(server: str) -> str:
    """The Server header nginx sends for a manifest's: the bare name stays bare."""
    return "nginx" if "/" not in server else f"nginx/{version()}"


class Nginx:
    name = "nginx"
    packages: tuple[str, ...] = ("nginx",)
    binaries: tuple[str, ...] = (NGINX_BIN,)

    def refusal(self, host: Host, service: Service) -> str | None:
        reason = web.refusal(service, self.name)
        if reason is not None:
            return reason
        spec = web.http_of(service)
        values = web.configured_values(spec)
        if any("$" in v for v in values):
            return "a header value or redirect has '$', which nginx reads as a variable"
        return web.unprintable(spec)

    def as_served(self, host: Host, service: Service) -> Service:
        return web.as_served(service, banner(web.http_of(service).server or "nginx"))

    def daemons(
        self, ctx: LabContext, served: Sequence[tuple[Host, Service]], root: Path
    ) -> list[Daemon]:
        root = root.resolve()
        for folder in ("www", "mta-sts", "tls"):
            # A file of an earlier start (an exposure the manifest no longer has) must go.
            shutil.rmtree(root / folder, ignore_errors=True)
        for folder in ("run", "logs", "tmp", "www", "mta-sts", "tls"):
            (root / folder).mkdir(parents=True, exist_ok=True)
        blocks = [_server_block(ctx, host, service, root) for host, service in served]
        conf = root / "nginx.conf"
        conf.write_text(_main_config(root, blocks), encoding="utf-8")
        log = root / "logs" / "error.log"
        listens = [
            (ip, service.effective_port)
            for host, service in served
            for ip in web.addresses(ctx, host)
        ]
        argv = [NGINX_BIN, "-e", str(log), "-p", f"{root}/", "-c", str(conf)]
        return [Daemon(self.name, argv, root / "run" / "nginx.pid", log, listens)]


def _main_config(root: Path, blocks: list[str]) -> str:
    # As root, the workers stay root: they read the sites' files under the lab's state
    # directory, which may sit in a folder only root can enter (pytest's, a user's home).
    user = "user root root;\n" if os.geteuid() == 0 else ""
    temps = "".join(f"    {name}_temp_path {root}/tmp/{name};\n" for name in _TEMP_PATHS)
    types = "".join(f"        {kind} {exts};\n" for kind, exts in _TYPES.items())
    return (
        "# Written by utsyn.lab.real.nginx from the lab manifest at every start.\n"
        f"{user}worker_processes 1;\n"
        f"pid {root}/run/nginx.pid;\n"
        f"lock_file {root}/run/nginx.lock;\n"
        f"error_log {root}/logs/error.log warn;\n"
        "events {\n    worker_connections 1024;\n}\n"
        "http {\n"
        f"    types {{\n{types}    }}\n"
        "    default_type application/octet-stream;\n"
        "    charset utf-8;\n"
        f"    access_log {root}/logs/access.log;\n"
        f"{temps}"
        f"    keepalive_timeout {int(IDLE_TIMEOUT)}s;\n"
        # Mozilla's session settings, for every site alike.
        "    ssl_session_timeout 1d;\n"
        "    ssl_session_cache shared:utsyn:10m;\n"
        "    ssl_session_tickets off;\n" + "".join(blocks) + "}\n"
    )


def _server_block(ctx: LabContext, host: Host, service: Service, root: Path) -> str:
    spec = web.http_of(service)
    files = web.write_site(ctx, host, service, root / "www", root / "mta-sts")
    port = service.effective_port
    ssl = " ssl" if service.kind == ServiceKind.HTTPS else ""
    lines = [
        f"listen {_address(ip)}:{port}{ssl} default_server;" for ip in web.addresses(ctx, host)
    ]
    lines += [
        f"server_name {' '.join([host.name, *host.aliases])};",
        f"server_tokens {'off' if '/' not in (spec.server or '') else 'on'};",
        f"root {files.docroot};",
    ]
    if service.kind == ServiceKind.HTTPS:
        lines += _tls_lines(ctx, host, service, root / "tls")
    headers = [
        f"add_header {name} {_quote(value)} always;" for name, value in web.header_values(spec)
    ]
    lines += headers
    if spec.redirect is not None:
        # Like the Python tier: every path and method, the path kept after a "/" target.
        target = spec.redirect
        if target.endswith("/"):
            target = target[:-1] + "$request_uri"
        lines.append(f"return 301 {_quote(target, variables=True)};")
    else:
        lines += _locations(spec.catch_all, spec.cookies, headers, files)
    body = "".join(f"        {line}\n" for line in lines)
    return f"    server {{\n{body}    }}\n"


def _locations(
    catch_all: bool, cookies: tuple[str, ...], headers: list[str], files: web.SiteFiles
) -> list[str]:
    fallback = "/index.html" if catch_all else "=404"
    cookie_lines = [f"add_header Set-Cookie {_quote(c)} always;" for c in cookies]
    out = ["location = /index.html {", *(f"    {h}" for h in headers + cookie_lines), "}"]
    if files.policies:
        folder = next(iter(files.policies.values())).parent
        out += [
            "location = /.well-known/mta-sts.txt {",
            f"    root {folder};",
            f"    try_files /$host.txt {fallback};",
            "}",
        ]
    if files.listing:
        out += ["location /backup/ {", "    autoindex on;", "}"]
    if catch_all:
        # Real files win; every other path answers the home page (a single-page-app fallback).
        out += ["location / {", "    try_files $uri $uri/ /index.html;", "}"]
    return out


def _tls_lines(ctx: LabContext, host: Host, service: Service, folder: Path) -> list[str]:
    tls = web.tls_files(ctx, host, service, folder)
    settings = tls.settings
    lines = [
        f"# TLS: {'Mozilla ' + settings.profile if settings.profile else 'the lab profile'}",
        f"ssl_certificate {tls.chain};",
        f"ssl_certificate_key {tls.key};",
        f"ssl_protocols {' '.join(settings.protocols)};",
        f"ssl_ciphers {_quote(settings.ciphers)};",
        f"ssl_prefer_server_ciphers {'on' if settings.prefer_server_ciphers else 'off'};",
    ]
    if settings.curves:
        lines.append(f"ssl_ecdh_curve {':'.join(settings.curves)};")
    if tls.dhparam is not None:
        lines.append(f"ssl_dhparam {tls.dhparam};")
    return lines


def _address(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def _quote(value: str, *, variables: bool = False) -> str:
    """A double-quoted nginx string; `$` only where the caller put a variable on purpose."""
    if "$" in value and not variables:
        raise ValueError(f"{value!r}: nginx would read '$' as a variable")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


NGINX = Nginx()
