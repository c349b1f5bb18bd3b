"""Measurement plumbing for the benchmarks: a lab in its own process, tools in their own.

Every measured party runs in a process of its own, so that nobody's CPU is counted twice:

- the lab is a child (`python -m benchmarks.harness lab ...`): its CPU time is read from
  /proc before and after each tool, which is the load a tool puts on the servers it scans;
- each tool (Utsyn included) is a child too: `os.wait4` gives its CPU time and peak RSS,
  and the Python workers also report the CPU of the work alone (without interpreter start).

Python workers run under Utsyn's egress guard (loopback only) with name resolution diverted
to the lab's address plan: the system resolver is off loopback and must never see a lab name.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utsyn.lab.generate import generate
from utsyn.lab.manifest import Manifest
from utsyn.lab.real.tier import SOFTWARE, as_served
from utsyn.lab.runtime import Lab, LabInfo, Tier
from utsyn.lab.scenarios import load_scenario
from utsyn.settings import get_settings
from utsyn.testing.egress import egress_guard

REPO = Path(__file__).resolve().parent.parent
# Addresses reserved for benchmark labs on this machine: the default lab (127.20.x.y and
# 127.53.0.1) belongs to other engineers and CI runs working at the same time.
BENCH_FIRST_OCTET = 80
BENCH_DNS_IP = "127.55.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Scenario:
    kind: str  # "demo" or "generated"
    orgs: int = 0
    seed: int = 7
    tier: Tier = "python"  # "real": real Debian server software where it can (lab.real)

    def manifest(self) -> Manifest:
        return load_scenario("demo") if self.kind == "demo" else generate(self.orgs, self.seed)

    def truth_manifest(self) -> Manifest:
        """The manifest as the tier serves it: the ground truth's source."""
        manifest = self.manifest()
        return as_served(manifest, SOFTWARE) if self.tier == "real" else manifest

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "orgs": self.orgs, "seed": self.seed, "tier": self.tier}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scenario:
        tier: Tier = "real" if data.get("tier") == "real" else "python"
        return cls(str(data["kind"]), int(data["orgs"]), int(data["seed"]), tier)


def orgs_for_hosts(hosts: int, seed: int) -> int:
    """The fewest generated organisations that together have at least `hosts` hosts."""
    orgs = max(1, hosts // 5)
    while sum(len(o.hosts) for o in generate(orgs, seed).organisations) < hosts:
        orgs += max(1, (hosts - sum(len(o.hosts) for o in generate(orgs, seed).organisations)) // 5)
    while orgs > 1 and sum(len(o.hosts) for o in generate(orgs - 1, seed).organisations) >= hosts:
        orgs -= 1
    return orgs


def name_map(manifest: Manifest, addresses: dict[str, str]) -> dict[str, str]:
    """Every lab name a client may meet (hosts and aliases) → its address."""
    names = dict(addresses)
    for _, host in manifest.hosts():
        for alias in host.aliases:
            names[alias] = addresses[host.name]
    return names


# ---------------------------------------------------------------- the lab in a child


class LabProcess:
    """A benchmark lab served by a child process; `cpu()` reads its CPU seconds so far."""

    def __init__(self, scenario: Scenario, state_dir: Path) -> None:
        self.scenario = scenario
        command = [
            sys.executable,
            "-m",
            "benchmarks.harness",
            "lab",
            "--scenario",
            json.dumps(scenario.to_json()),
            "--state-dir",
            str(state_dir),
        ]
        self._proc = subprocess.Popen(
            command, cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the benchmark lab did not start (see its stderr above)")
        self.info = LabInfo.from_json(json.loads(line))
        self.pid = self._proc.pid

    def cpu(self) -> float:
        """User + system CPU seconds of the lab process (all its threads) so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def stop(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()  # the child serves until its stdin ends
        try:
            self._proc.wait(60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def _serve_lab(scenario: Scenario, state_dir: Path) -> None:
    # Lab itself rather than running_lab(): its start has no 60 s limit here, which a
    # 1,000-host lab with a cold key cache needs (certificate keys are generated once).
    async def serve() -> None:
        lab = Lab(
            scenario.manifest(),
            state_dir,
            get_settings().cache_dir,
            dns_ip=BENCH_DNS_IP,
            first_octet=BENCH_FIRST_OCTET,
            tier=scenario.tier,
        )
        info = await lab.start()
        try:
            print(json.dumps(info.to_json()), flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        finally:
            await lab.stop()

    asyncio.run(serve())


# ---------------------------------------------------------------- tools in children


@dataclass
class Measured:
    """What one tool run cost, seen from outside (wait4) and from inside (the worker)."""

    tool: str
    wall: float  # seconds of the work itself (inside the worker; whole process for nmap)
    cpu: float  # CPU seconds of the work (whole process for non-Python tools)
    process_cpu: float  # CPU seconds of the whole child process, start-up included
    peak_rss_mb: float
    lab_cpu: float  # CPU seconds the lab spent while the tool ran
    connections: int | None  # TCP connections opened, where known
    dns_queries: int | None
    returncode: int
    output: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data.pop("output")
        return data


def run_child(
    tool: str,
    command: list[str],
    lab: LabProcess,
    env: dict[str, str] | None = None,
    with_stderr: bool = False,
) -> tuple[Measured, str]:
    """Run `command` to its end; its stdout (and stderr) is returned, its cost measured."""
    lab_before = lab.cpu()
    began = time.perf_counter()
    out_path = Path(f"/tmp/utsyn-bench-{os.getpid()}-{tool.replace(':', '_')}.out")
    with out_path.open("w") as out:
        stderr = subprocess.STDOUT if with_stderr else None
        proc = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=stderr, env=env)
        peak_kib = 0
        while True:
            # Linux keeps ru_maxrss across fork and exec: wait4's figure is at least this
            # (big) process's RSS. The child's own high-water mark is VmHWM: polled here,
            # and reported exactly from inside by the Python workers.
            peak_kib = max(peak_kib, _vm_hwm_kib(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.05)
    wall = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = out_path.read_text(errors="replace")
    out_path.unlink()
    measured = Measured(
        tool=tool,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        process_cpu=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=peak_kib / 1024,
        lab_cpu=lab.cpu() - lab_before,
        connections=None,
        dns_queries=None,
        returncode=proc.returncode,
    )
    return measured, text


def _vm_hwm_kib(pid: int | str) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def peak_rss_self_mb() -> float:
    return _vm_hwm_kib("self") / 1024


def run_worker(tool: str, job: dict[str, Any], lab: LabProcess, ca_env: bool = False) -> Measured:
    """A Python worker (`python -m benchmarks.peers --worker`) for one tool and one job."""
    job_path = Path(f"/tmp/utsyn-bench-{os.getpid()}-job.json")
    job_path.write_text(json.dumps(job))
    env = dict(os.environ)
    if ca_env:
        # These override a CA file given to requests-based tools (lab facts): per process.
        env["REQUESTS_CA_BUNDLE"] = env["CURL_CA_BUNDLE"] = str(lab.info.ca_file)
    command = [sys.executable, "-m", "benchmarks.peers", "--worker", tool, "--job", str(job_path)]
    measured, text = run_child(tool, command, lab, env)
    job_path.unlink()
    lines = [line for line in text.splitlines() if line.startswith("{")]
    if measured.returncode != 0 or not lines:
        raise RuntimeError(f"{tool} worker failed (exit {measured.returncode}): {text[-2000:]}")
    report = json.loads(lines[-1])
    measured.wall = report["wall"]
    measured.cpu = report["cpu"]
    measured.connections = report["connections"]
    measured.dns_queries = report["dns_queries"]
    measured.peak_rss_mb = report["peak_rss_mb"]
    measured.output = report["output"]
    return measured


# ---------------------------------------------------------------- inside a worker


@dataclass
class Counters:
    tcp_connects: int = 0
    udp_sends: int = 0


@contextmanager
def worker_sandbox(names: dict[str, str]) -> Iterator[Counters]:
    """Loopback only; lab names resolve from the address plan; connections are counted."""
    counters = Counters()
    with egress_guard():
        guarded_connect = socket.socket.connect
        guarded_sendto = socket.socket.sendto
        guarded_getaddrinfo = socket.getaddrinfo

        def connect(self: socket.socket, address: Any) -> None:
            if self.family in (socket.AF_INET, socket.AF_INET6) and self.type == socket.SOCK_STREAM:
                counters.tcp_connects += 1
            return guarded_connect(self, address)

        def sendto(self: socket.socket, data: Any, *args: Any) -> int:
            counters.udp_sends += 1
            return guarded_sendto(self, data, *args)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else host
            if isinstance(name, str) and name.lower().rstrip(".") in names:
                host = names[name.lower().rstrip(".")]
            return guarded_getaddrinfo(host, *args, **kwargs)

        socket.socket.connect = connect  # type: ignore[method-assign,assignment]
        socket.socket.sendto = sendto  # type: ignore[method-assign,assignment]
        socket.getaddrinfo = getaddrinfo
        try:
            yield counters
        finally:  # the egress guard restores the originals on its way out
            socket.socket.connect = guarded_connect  # type: ignore[method-assign]
            socket.socket.sendto = guarded_sendto  # type: ignore[method-assign]
            socket.getaddrinfo = guarded_getaddrinfo


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark plumbing (used by peers.py).")
    parser.add_argument("role", choices=["lab"])
    parser.add_argument("--scenario", required=True, help="JSON of a Scenario")
    parser.add_argument("--state-dir", required=True, type=Path)
    args = parser.parse_args()
    _serve_lab(Scenario.from_json(json.loads(args.scenario)), args.state_dir)


if __name__ == "__main__":
    main()
