"""A real uvicorn serving Utsyn on loopback: in a thread of the test process (`serving`), or
as `utsyn serve` in a process of its own (`serving_process`), whose memory can be measured
and which shares no interpreter lock with the test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

HOST = "127.0.0.1"


def _free_port(host: str = HOST) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(app: FastAPI, host: str = HOST) -> Iterator[str]:
    """The app served on a free port of `host` (127.0.0.1); yields its base URL."""
    port = _free_port(host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass(frozen=True)
class Served:
    base_url: str
    pid: int


@contextmanager
def serving_process(env: dict[str, str], log: Path) -> Iterator[Served]:
    """`utsyn serve` with these `UTSYN_*` variables on a free port, until the block ends;
    what it prints goes to `log`."""
    port = _free_port()
    with log.open("w", encoding="utf-8") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "utsyn", "serve", "--host", HOST, "--port", str(port)],
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, "utsyn serve did not start"
            try:
                httpx.get(f"{base_url}/login", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield Served(base_url, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
