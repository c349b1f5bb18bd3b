"""The engine: scope refusals are recorded, deadlines hold, results stream per target."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from utsyn.lab.manifest import parse_manifest
from utsyn.lab.runtime import LabInfo, running_lab
from utsyn.scan.engine import Scanner, split_host_port
from utsyn.scan.guard import Timeouts
from utsyn.scan.model import Footprint, TargetResult
from utsyn.settings import get_settings

from .conftest import lab_config

# A lab of its own (127.115.x.y, DNS on 127.115.0.53:10053), so it never meets the demo lab.
MANIFEST = """
    name: engine
    organisations:
      - slug: grensby
        name: Grensby kommune
        orgnr: "974760673"
        sector: municipality
        county: "46"
        municipality: "4601"
        domains:
          - name: grensby.test
            records:
              - {name: utenfor, type: A, value: 192.0.2.10}
              - {name: intern, type: A, value: 10.1.2.3}
        hosts:
          - name: www.grensby.test
            ip: 127.115.0.1
            services:
              - {kind: ssh, banner: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"}
"""


@pytest.fixture(scope="module")
def small_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabInfo]:
    manifest = parse_manifest(yaml.safe_load(textwrap.dedent(MANIFEST)))
    state = tmp_path_factory.mktemp("engine-lab")
    cache = get_settings().cache_dir
    with running_lab(manifest, state, cache, dns_ip="127.115.0.53", dns_port=10053) as info:
        yield info


def scan(lab: LabInfo, footprint: Footprint, **config: object) -> list[TargetResult]:
    scanner = Scanner(lab_config(lab, **config), families=[])

    async def collect() -> list[TargetResult]:
        return [r async for r in scanner.scan([footprint])]

    return asyncio.run(collect())


def test_a_name_resolving_outside_the_lab_is_refused_and_recorded(small_lab: LabInfo) -> None:
    footprint = Footprint("974760673", hostnames=("utenfor.grensby.test", "intern.grensby.test"))
    results = {r.target: r for r in scan(small_lab, footprint, ports=(22, 443))}
    for name, ip in (("utenfor.grensby.test", "192.0.2.10"), ("intern.grensby.test", "10.1.2.3")):
        refused = [o for o in results[name].observations if o.check == "scope.refused"]
        assert len(refused) == 1, results[name]
        assert refused[0].ip == ip and "outside the lab" in (refused[0].error or "")


def test_open_ports_are_found_with_their_greeting(small_lab: LabInfo) -> None:
    footprint = Footprint("974760673", hostnames=("www.grensby.test",))
    (result,) = scan(small_lab, footprint, ports=(21, 22, 80))
    opened = [o for o in result.observations if o.check == "service.open"]
    assert [o.target for o in opened] == ["www.grensby.test:22"]
    resolved = next(o for o in result.observations if o.check == "dns.resolve")
    assert resolved.value == ["127.115.0.1"]


def test_an_unknown_name_is_an_error_observation_not_a_crash(small_lab: LabInfo) -> None:
    footprint = Footprint("974760673", hostnames=("finnesikke.grensby.test",))
    (result,) = scan(small_lab, footprint, ports=(22,))
    assert [o.check for o in result.observations] == ["dns.resolve"]
    assert result.observations[0].value == []


async def _tarpit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(3600)  # accepts, never speaks


def test_the_host_deadline_bounds_a_tarpit(small_lab: LabInfo) -> None:
    async def run() -> list[TargetResult]:
        server = await asyncio.start_server(_tarpit, "127.115.0.9", 21)
        try:
            config = lab_config(small_lab, host_deadline=1.0, timeouts=Timeouts(read=30))
            scanner = Scanner(config, families=[])
            footprint = Footprint("x", ips=("127.115.0.9",))
            return [r async for r in scanner.scan([footprint])]
        finally:
            server.close()

    (result,) = asyncio.run(asyncio.wait_for(run(), 10))
    assert [o.check for o in result.observations] == ["scan.deadline"]
    assert result.seconds < 3


def test_results_stream_one_per_zone_and_host(small_lab: LabInfo) -> None:
    footprints = [
        Footprint(f"org{i}", domains=("grensby.test",), hostnames=("www.grensby.test",))
        for i in range(5)
    ]
    scanner = Scanner(lab_config(small_lab, ports=(22,), hosts_in_flight=2), families=[])

    async def collect() -> list[TargetResult]:
        return [r async for r in scanner.scan(footprints)]

    results = asyncio.run(collect())
    assert sorted((r.org, r.kind) for r in results) == sorted(
        [(f"org{i}", k) for i in range(5) for k in ("domain", "host")]
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("www.a.test", ("www.a.test", ())),
        ("www.a.test:8443", ("www.a.test", (8443,))),
        ("127.0.0.1:25", ("127.0.0.1", (25,))),
        ("[::1]:443", ("::1", (443,))),
        ("::1", ("::1", ())),
    ],
)
def test_split_host_port(spec: str, expected: tuple[str, tuple[int, ...]]) -> None:
    assert split_host_port(spec) == expected


def test_targets_file_errors_name_the_line(tmp_path: Path) -> None:
    from utsyn.errors import ConfigError
    from utsyn.scan.targets import from_file

    path = tmp_path / "targets.txt"
    path.write_text("# kommunen\nwww.a.test\n\nbad name!\n", "utf-8")
    with pytest.raises(ConfigError, match=r"targets.txt:4: 'bad name!' is not a host name"):
        from_file(path)
