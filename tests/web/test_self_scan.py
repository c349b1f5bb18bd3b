"""Utsyn must earn an A from its own checks.

The app is served by uvicorn with a lab CA certificate on 127.117.0.1:8443 and scanned by
Utsyn's own HTTP family through the engine (lab scope; the services family only names the
service, which the rules need to know it is https); the rules must classify no failing
web.* or leakage.* outcome on it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from utsyn.lab.ca import LabCA
from utsyn.lab.specs import CertSpec
from utsyn.rules.outcomes import PASSING, classify
from utsyn.scan.engine import Scanner
from utsyn.scan.family import ScanConfig
from utsyn.scan.guard import ScopePolicy
from utsyn.scan.http import HttpFamily
from utsyn.scan.model import Footprint, TargetResult
from utsyn.scan.services.family import ServicesFamily
from utsyn.settings import get_settings

HOST, PORT = "127.117.0.1", 8443


@pytest.fixture
def served(app: FastAPI, tmp_path: Path) -> Iterator[str]:
    ca = LabCA(tmp_path / "lab", get_settings().cache_dir)
    credentials = ca.issue(["utsyn.test"], CertSpec())
    config = uvicorn.Config(
        app,
        host=HOST,
        port=PORT,
        ssl_certfile=str(credentials.cert_file),
        ssl_keyfile=str(credentials.key_file),
        server_header=False,
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"{HOST}:{PORT}"
    server.should_exit = True
    thread.join(timeout=10)


def _scan(target: str) -> TargetResult:
    config = ScanConfig(scope=ScopePolicy.lab(), nameservers=("127.53.0.1",), ports=(PORT,))
    scanner = Scanner(config, [ServicesFamily(), HttpFamily()])

    async def collect() -> list[TargetResult]:
        return [r async for r in scanner.scan([Footprint("utsyn", hostnames=(target,))])]

    (result,) = asyncio.run(collect())
    return result


def test_utsyn_earns_an_a_from_its_own_http_checks(served: str) -> None:
    result = _scan(served)
    checks = {o.check: o for o in result.observations}
    assert checks["http.status"].value == 200, checks["http.status"]
    assert checks["http.security_txt"].value == "valid", checks["http.security_txt"]
    outcomes = {hit.outcome for hit in classify(result)}
    web = {o for o in outcomes if o.startswith(("web.", "leakage."))}
    assert {"web.hsts_ok", "web.csp_ok", "web.framing_ok", "web.cookies_ok"} <= web
    failing = sorted(o.value for o in web - PASSING)
    assert failing == [], f"Utsyn fails its own checks: {failing}"
