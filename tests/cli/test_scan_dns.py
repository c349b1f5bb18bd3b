"""`utsyn scan` and DNS: a name that does not exist is reported as such (and nothing found
at all is a failure), and a name server that never answers is named within its timeout."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from utsyn.lab.runtime import LabInfo

UTSYN = Path(sys.executable).parent / "utsyn"


def _scan(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"UTSYN_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [str(UTSYN), "scan", *args], capture_output=True, text=True, timeout=120, check=False,
        env=env,
    )  # fmt: skip


def test_a_name_not_in_dns_is_reported_and_fails_when_it_is_all(
    demo_lab: LabInfo, tmp_path: Path
) -> None:
    lab = ("--scope", "lab", "--resolver", demo_lab.dns_ip, "--resolver-port",
           str(demo_lab.dns_port))  # fmt: skip
    done = _scan(tmp_path, "finnesikke.test", *lab)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "ingen av målene finnes i DNS (finnesikke.test)" in done.stderr
    assert "finnes ikke i DNS" in done.stdout

    mixed = _scan(tmp_path, "finnesikke.test", "ddb.test", *lab)
    assert mixed.returncode == 0, mixed.stderr
    rows = [line for line in mixed.stdout.splitlines() if "finnesikke.test" in line]
    assert rows and all("finnes ikke i DNS" in row for row in rows)
    assert not any("finnes ikke" in line for line in mixed.stdout.splitlines()
                   if "ddb.test" in line and "finnesikke" not in line)  # fmt: skip


@pytest.fixture
def silent_resolver() -> Iterator[tuple[str, int]]:
    """A UDP socket on loopback that reads nothing and answers nothing."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as quiet:
        quiet.bind(("127.0.0.9", 0))
        yield "127.0.0.9", quiet.getsockname()[1]


def test_a_silent_name_server_is_named_within_its_timeout(
    silent_resolver: tuple[str, int], tmp_path: Path
) -> None:
    ip, port = silent_resolver
    began = time.monotonic()
    done = _scan(tmp_path, "ddb.test", "--resolver", ip, "--resolver-port", str(port))
    took = time.monotonic() - began
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"ingen navnetjener svarte innen 3,0 s ({ip}:{port})" in done.stderr
    assert took < 15  # start-up and one DNS timeout (3 s), not the scan's 26 s of retries
