"""Real loopback servers for the feed and alert tests: a feed mirror with ETag and
Last-Modified (127.118.0.1), a webhook receiver (127.118.0.2) and an SMTP receiver
(aiosmtpd, 127.118.0.3); and a migrated temporary SQLite database."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SmtpSession
from sqlalchemy.orm import Session

from utsyn.orgnr import make_orgnr
from utsyn.scan.model import Observation, TargetResult
from utsyn.settings import Settings
from utsyn.store import scans
from utsyn.store.db import make_engine, session_factory, upgrade
from utsyn.store.models import Organisation
from utsyn.store.orgs import OrgRecord, organisation, upsert_organisations
from utsyn.vuln.index import read_manifest, snapshot_dir

SHARED = Path("/work/shared/data")
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
FEED_FILES = (
    "cve/apache_httpd_vendor_cve_json.json",
    "cve/nginx_security_advisories.xml",
    "cve/vulnrichment_cve5_subset.json",
    "jsvulns/retirejs-jsrepository.json",
    "kev/known_exploited_vulnerabilities.json",
    "kev/known_exploited_vulnerabilities.csv",
    "epss/epss_kev_nvd.csv",
)
DISTROS = "distros/distribution-packages.json"


# ------------------------------------------------------------------ the feed mirror


def write_mirror_manifest(folder: Path, manifest: dict[str, dict[str, Any]]) -> None:
    (folder / "SOURCES.json").write_text(json.dumps(manifest, indent=2))


def make_mirror(folder: Path) -> Path:
    """The shared feed files laid out like the snapshot, with a manifest a mirror serves:
    the shipped one, plus the NVD folder's file list (HTTP cannot list a folder)."""
    for rel in FEED_FILES:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SHARED / rel, folder / rel)
    shutil.copytree(SHARED / "cve" / "nvd2", folder / "cve" / "nvd2")
    # The distribution package table is Utsyn's own compilation: only the snapshot has it.
    (folder / DISTROS).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(snapshot_dir() / DISTROS, folder / DISTROS)
    manifest = read_manifest(snapshot_dir())
    manifest["nvd"]["files"] = sorted(p.name for p in (folder / "cve" / "nvd2").glob("*.json"))
    write_mirror_manifest(folder, manifest)
    return folder


@dataclass
class FeedServer:
    root: Path
    base: str = ""
    requests: list[tuple[str, int, dict[str, str]]] = field(default_factory=list)

    def served(self, status: int) -> list[str]:
        return [path for path, code, _ in self.requests if code == status]

    def touch(self, rel: str, data: bytes) -> None:
        """Replace a served file; its mtime moves forward so Last-Modified changes too."""
        path = self.root / rel
        path.write_bytes(data)
        later = path.stat().st_mtime + 10
        os.utime(path, (later, later))


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = server.root / unquote(urlsplit(self.path).path.lstrip("/"))
            if not path.is_file():
                self._answer(404, {}, b"")
                return
            data = path.read_bytes()
            etag = '"' + hashlib.sha256(data).hexdigest()[:20] + '"'
            modified = formatdate(path.stat().st_mtime, usegmt=True)
            headers = {"ETag": etag, "Last-Modified": modified}
            self._answer(304 if self._fresh(etag, path) else 200, headers, data)

        def _fresh(self, etag: str, path: Path) -> bool:
            match = self.headers.get("If-None-Match")
            if match is not None:  # RFC 9110: If-None-Match wins over If-Modified-Since
                return match == etag
            since = self.headers.get("If-Modified-Since")
            return since is not None and parsedate_to_datetime(since).timestamp() >= int(
                path.stat().st_mtime
            )

        def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
            server.requests.append((self.path, status, dict(self.headers.items())))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            body = data if status == 200 else b""
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    return Handler


def _serve(server: ThreadingHTTPServer) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def feed_server(tmp_path: Path) -> Iterator[FeedServer]:
    """The shared feed files served from 127.118.0.1 with ETag and Last-Modified."""
    served = FeedServer(make_mirror(tmp_path / "mirror"))
    httpd = ThreadingHTTPServer(("127.118.0.1", 0), _handler(served))
    for base in _serve(httpd):
        served.base = base
        yield served


# ------------------------------------------------------------------ the alert receivers


@dataclass
class WebhookReceiver:
    url: str = ""
    # What to answer, in order; then 200. "slow" answers after the client gave up.
    script: list[int | str] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


def _webhook_handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.received.append((dict(self.headers.items()), body))
            action = receiver.script.pop(0) if receiver.script else 200
            if action == "slow":
                time.sleep(1.0)
                action = 200
            self.send_response(int(action))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    return Handler


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    httpd = ThreadingHTTPServer(("127.118.0.2", 0), _webhook_handler(receiver))
    for url in _serve(httpd):
        receiver.url = url + "hooks/utsyn"
        yield receiver


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_DATA(self, server: SMTP, session: SmtpSession, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class SmtpReceiver:
    host: str
    port: int
    inbox: Inbox


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    """aiosmtpd on 127.118.0.3; its own name is given so that it asks no resolver."""
    inbox = Inbox()
    host = "127.118.0.3"
    port = free_port(host)
    controller = Controller(inbox, hostname=host, port=port, server_hostname="mx.utsyn.test")
    controller.start()
    try:
        yield SmtpReceiver(host, port, inbox)
    finally:
        controller.stop()


# ------------------------------------------------------------------ database and settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", feeds_url=None)


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """A session on a temporary SQLite database migrated to head."""
    url = f"sqlite:///{tmp_path / 'utsyn.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_factory(engine)() as opened:
            yield opened
    finally:
        engine.dispose()


def add_org(session: Session, n: int, name: str) -> Organisation:
    record = OrgRecord(orgnr=make_orgnr(n), name=name, domains=(f"org{n}.test",))
    upsert_organisations(session, [record], "test", T0)
    return organisation(session, record.orgnr)


def nginx(version: str) -> dict[str, Any]:
    """A `service.product` value as the scanner emits it for a `Server: nginx/...` header."""
    cpe = f"cpe:2.3:a:f5:nginx:{version}:*:*:*:*:*:*:*"
    source = f"nginx/{version}"
    return {"product": "nginx", "vendor": "f5", "version": version, "cpe": cpe, "source": source}


def observe(session: Session, org: Organisation, target: str, *products: dict[str, Any]) -> None:
    """Store one scan result of `target` with the given `service.product` observations."""
    run = scans.start_run(session, {"test": True}, "test", T0)
    observations = tuple(
        Observation(target, "service.product", v, "127.20.0.10", "GET /", str(v["source"]))
        for v in products
    )
    result = TargetResult(org.orgnr, target, "host", observations, 0.1)
    scans.write_target_result(session, run, result)
