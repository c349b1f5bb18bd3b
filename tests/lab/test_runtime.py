"""The whole demo lab, served: every host answers on its own address, DNS knows them all."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import dns.message
import dns.query
import dns.rdatatype
import pytest

from utsyn.lab.context import address_plan
from utsyn.lab.manifest import ServiceKind
from utsyn.lab.runtime import LabInfo
from utsyn.lab.scenarios import load_scenario


def test_demo_serves_about_forty_organisations(demo_lab: LabInfo) -> None:
    manifest = load_scenario("demo")
    assert 35 <= len(manifest.organisations) <= 50
    assert demo_lab.addresses == address_plan(manifest)
    assert demo_lab.ca_file.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert demo_lab.trust_anchor_file.exists()


def test_every_tcp_service_accepts_a_connection(demo_lab: LabInfo) -> None:
    manifest = load_scenario("demo")
    refused = []
    for _, host in manifest.hosts():
        ip = demo_lab.addresses[host.name]
        for service in host.services:
            try:
                socket.create_connection((ip, service.effective_port), timeout=3).close()
            except OSError as exc:
                refused.append(f"{host.name}:{service.effective_port} ({exc})")
    assert refused == []


def test_every_host_resolves_through_the_lab_dns(demo_lab: LabInfo) -> None:
    manifest = load_scenario("demo")
    for _, host in manifest.hosts():
        query = dns.message.make_query(host.name, dns.rdatatype.A)
        answer = dns.query.udp(query, demo_lab.dns_ip, port=demo_lab.dns_port, timeout=3)
        addresses = {r.address for rrset in answer.answer for r in rrset if r.rdtype == 1}
        assert demo_lab.addresses[host.name] in addresses, host.name


def test_hosts_bind_their_own_address_never_the_wildcard(demo_lab: LabInfo) -> None:
    manifest = load_scenario("demo")
    org, host = next(
        (o, h) for o, h in manifest.hosts() if any(s.kind == ServiceKind.HTTPS for s in h.services)
    )
    ip = demo_lab.addresses[host.name]
    neighbour = ip.rsplit(".", 1)[0] + ".250"  # an address no host has
    with pytest.raises(OSError):
        socket.create_connection((neighbour, 443), timeout=2).close()
    del org


MANIFEST = """
    name: tiny
    organisations:
      - slug: prøve
        name: Prøvestad kommune
        orgnr: "974760673"
        sector: municipality
        county: "46"
        municipality: "4601"
        domains: [{name: provestad.test, spf: ["v=spf1 -all"]}]
        hosts:
          - name: www.provestad.test
            ip: 127.105.0.1
            services:
              - kind: http
                port: 8080
                http: {server: nginx/1.24.0, title: Prøvestad}
"""


def test_lab_up_detach_status_down(tmp_path: Path) -> None:
    manifest = tmp_path / "tiny.yaml"
    manifest.write_text(textwrap.dedent(MANIFEST).replace("prøve", "provestad"), "utf-8")
    env = {**os.environ, "UTSYN_DATA_DIR": str(tmp_path / "data")}

    def utsyn(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "utsyn", *args],
            env=env, capture_output=True, text=True, timeout=90,
        )  # fmt: skip

    up = utsyn("lab", "up", "--scenario", str(manifest), "--detach", "--dns-port", "10053")
    assert up.returncode == 0, up.stderr + up.stdout
    try:
        status = utsyn("lab", "status", "--json")
        assert status.returncode == 0, status.stderr
        state = json.loads(status.stdout)
        assert state["addresses"] == {"www.provestad.test": "127.105.0.1"}
        assert state["dns_port"] == 10053
        table = utsyn("lab", "status")
        assert "Prøvestad kommune" in table.stdout
        with socket.create_connection(("127.105.0.1", 8080), timeout=3) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: www.provestad.test\r\nConnection: close\r\n\r\n")
            assert b"nginx/1.24.0" in sock.recv(65536)
        again = utsyn("lab", "up", "--scenario", str(manifest), "--detach")
        assert again.returncode == 3 and "kjører allerede" in again.stderr
    finally:
        down = utsyn("lab", "down")
    assert down.returncode == 0, down.stderr
    assert utsyn("lab", "status").returncode == 3


def test_a_bad_scenario_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\norganisations:\n  - slug: x\n    orgnr: '123456789'\n", "utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "utsyn", "lab", "up", "--scenario", str(bad)],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "UTSYN_DATA_DIR": str(tmp_path / "data")},
    )  # fmt: skip
    assert result.returncode == 2
    assert str(bad) in result.stderr and "orgnr" in result.stderr
    assert "Traceback" not in result.stderr
