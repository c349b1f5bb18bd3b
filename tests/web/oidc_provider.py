"""A real OpenID provider for the tests: panva's oidc-provider under Node
(tests/oidc/provider.mjs), on a loopback port, and a scripted person signing in to it."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi.testclient import TestClient
from joserfc.jwk import RSAKey

from ..services import unavailable

PROVIDER_DIR = Path(__file__).parents[1] / "oidc"
SCRIPT = PROVIDER_DIR / "provider.mjs"
UTSYN = "https://testserver/"
_ACTION = re.compile(r'action="([^"]+)"')
LOA = ["idporten-loa-substantial", "idporten-loa-high"]


def node() -> str:
    found = shutil.which("node")
    if found is None:
        unavailable("Node is not installed: the OpenID provider tests need it")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        unavailable("oidc-provider is not installed: run `npm ci` in tests/oidc (.ci/run does)")
    return str(found)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def provider_key() -> dict[str, Any]:
    key = RSAKey.generate_key(2048, private=True)
    key.ensure_kid()
    return dict(key.as_dict(private=True))


@contextmanager
def running_provider(config: dict[str, Any], workdir: Path) -> Iterator[str]:
    """Start the provider with `config` (issuer, host, port, jwks, clients, accounts); its
    issuer until the block ends."""
    path = workdir / f"provider-{config['port']}.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    process = subprocess.Popen(
        [node(), str(SCRIPT), str(path)],
        cwd=PROVIDER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("ready"):
            _, errors = process.communicate(timeout=10)
            raise RuntimeError(f"the OpenID provider did not start: {line}{errors}")
        yield str(config["issuer"])
    finally:
        process.terminate()
        process.wait(timeout=10)


def authorize(authorization_url: str, account: str, acr: str = LOA[0], times: int = 1) -> list[str]:
    """Sign in as `account` at `acr` at the provider, `times` times with the same request;
    where the provider sends the browser back each time (the callbacks)."""
    callbacks = []
    for _ in range(times):
        with httpx.Client(timeout=10) as browser:  # a new person at the provider each time
            response = browser.get(authorization_url)
            for _step in range(10):
                if response.is_redirect:
                    location = str(response.headers["location"])
                    if location.startswith(UTSYN):
                        callbacks.append(location)
                        break
                    response = browser.get(response.url.join(location))
                elif response.status_code == 200 and (found := _ACTION.search(response.text)):
                    form = {"account": account, "acr": acr}
                    response = browser.post(response.url.join(found.group(1)), data=form)
                else:
                    raise AssertionError(f"{response.status_code}: {response.text[:500]}")
    return callbacks


def start(web: TestClient, name: str) -> str:
    """Utsyn's redirect to the provider for a login through `name`."""
    response = web.get(f"/login/oidc/{name}", params={"next": "/brukere"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def back(web: TestClient, callback: str) -> httpx.Response:
    """The browser arriving back at Utsyn."""
    parts = urlsplit(callback)
    return web.get(f"{parts.path}?{parts.query}", follow_redirects=False)
