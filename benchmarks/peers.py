"""Utsyn against the tools its users know, on the same lab hosts, in one run.

    .venv/bin/python -m benchmarks.peers                      # demo + generated (~1,000 hosts)
    .venv/bin/python -m benchmarks.peers --scenario demo --peers sslyze,checkdmarc
    .venv/bin/python -m benchmarks.peers --scenario generated --hosts 300 --json out.json

For each peer, Utsyn runs the equivalent work on exactly the hosts the peer scanned:

| peer               | its work                               | Utsyn's equivalent               |
|--------------------|----------------------------------------|----------------------------------|
| sslyze 6.3         | SSL 3.0 to TLS 1.3 suites, certificate | TLS family on host:443           |
| HTTP Observatory   | httpobs retriever + analyzers          | HTTP family on host:80, host:443 |
| checkdmarc         | check_domains (MX, SPF, DMARC, ...)    | the same DNS checks; whole family|
| nmap -sT -sV light | connect scan + version detection       | discovery + services family      |

Each party runs in its own process (benchmarks.harness): wall time and CPU of the work,
peak RSS of the process, TCP connections (counted at `socket.connect` inside Python workers,
from `--packet-trace` for nmap), DNS queries, and the CPU the lab spent serving it. Answers
are compared check by check in Utsyn's vocabulary, and each tool is also scored against the
lab's ground truth, so a disagreement says who is wrong. Peers too slow for every host of
a big scenario run on an evenly spaced sample (`--sample-*`); the report says so and
extrapolates linearly.

Everything stays on loopback: the benchmark lab uses 127.80.x.y and a name server on
127.55.0.1 (other labs on this machine use 127.20.x.y and 127.53.0.1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.harness import (
    LabProcess,
    Measured,
    Scenario,
    name_map,
    orgs_for_hosts,
    peak_rss_self_mb,
    run_child,
    run_worker,
    self_cpu,
    worker_sandbox,
)

from utsyn.lab.expected import expected_index
from utsyn.lab.manifest import Manifest, ServiceKind
from utsyn.lab.runtime import LabInfo
from utsyn.scan.family import DEFAULT_PORTS, CheckFamily, ScanConfig, ScanContext
from utsyn.scan.guard import ScopePolicy
from utsyn.scan.model import Footprint, Job, Observation, ServiceTarget, Target
from utsyn.testing.egress import egress_guard

PEERS = ("sslyze", "httpobs", "checkdmarc", "nmap")
# checkdmarc's check_domains: MX, SPF, DMARC, MTA-STS, SMTP TLS reporting and DNSSEC.
SAME_AS_CHECKDMARC = "dns=mx,spf,dmarc,mta_sts,tls_rpt,dnssec"
Facts = dict[tuple[str, str], Any]

# ======================================================================== workers


class _SomeJobs:
    """A family limited to some of its jobs (e.g. the DNS checks a peer also makes)."""

    def __init__(self, inner: CheckFamily, names: set[str]) -> None:
        self.family = inner.family
        self._inner = inner
        self._names = names

    def jobs(self, target: Target) -> Iterable[Job]:
        return [j for j in self._inner.jobs(target) if j.name in self._names]

    async def run(self, job: Job, scan: ScanContext) -> list[Observation]:
        return await self._inner.run(job, scan)


def _families(specs: Iterable[str]) -> list[CheckFamily]:
    """ "all", or family names, each optionally limited to jobs: "dns=spf,dmarc"."""
    from utsyn.scan.registry import FAMILIES

    wanted = dict(spec.partition("=")[::2] for spec in specs)
    chosen: list[CheckFamily] = []
    for family in FAMILIES:
        if "all" in wanted or family.family in wanted:
            jobs = wanted.get(family.family, "")
            chosen.append(_SomeJobs(family, set(jobs.split(","))) if jobs else family)  # type: ignore[arg-type]
    return chosen


def _config(lab: LabInfo) -> ScanConfig:
    return ScanConfig(
        scope=ScopePolicy.lab(),
        nameservers=(lab.dns_ip,),
        dns_port=lab.dns_port,
        ca_file=lab.ca_file,
        trust_anchor_file=lab.trust_anchor_file,
    )


def work_utsyn(job: dict[str, Any]) -> dict[str, Any]:
    from utsyn.scan.engine import Scanner

    lab = LabInfo.from_json(job["lab"])
    footprints = [
        Footprint(f["org"], tuple(f["domains"]), tuple(f["hostnames"])) for f in job["fp"]
    ]
    scanner = Scanner(_config(lab), _families(job["families"]))

    async def collect() -> list[Any]:
        return [r async for r in scanner.scan(footprints)]

    results = asyncio.run(collect())
    assert scanner.last_context is not None
    stats = scanner.last_context.net.stats
    prefixes = tuple(job["prefixes"])
    facts = [
        [o.target, o.check, o.value, o.error]
        for r in results
        for o in r.observations
        if o.check.startswith(prefixes)
    ]
    host_seconds = [r.seconds for r in results if r.kind == "host"]
    return {
        "facts": facts,
        "guard_connections": stats.connections,
        "guard_dns_queries": stats.dns_queries,
        "units": len(results),
        "host_seconds_mean": sum(host_seconds) / len(host_seconds) if host_seconds else 0.0,
        "errors": sum(1 for r in results for o in r.observations if o.error),
    }


def work_sslyze(job: dict[str, Any]) -> dict[str, Any]:
    from sslyze.plugins.certificate_info.implementation import CertificateInfoExtraArgument
    from sslyze.plugins.scan_commands import ScanCommand
    from sslyze.scanner.models import ScanCommandsExtraArguments, ServerScanRequest
    from sslyze.scanner.scanner import Scanner
    from sslyze.server_setting import ServerNetworkLocation
    from tests.scan.test_tls import _sslyze_result_facts

    commands = {
        ScanCommand.SSL_3_0_CIPHER_SUITES,
        ScanCommand.TLS_1_0_CIPHER_SUITES,
        ScanCommand.TLS_1_1_CIPHER_SUITES,
        ScanCommand.TLS_1_2_CIPHER_SUITES,
        ScanCommand.TLS_1_3_CIPHER_SUITES,
        ScanCommand.CERTIFICATE_INFO,
    }
    extra = ScanCommandsExtraArguments(
        certificate_info=CertificateInfoExtraArgument(custom_ca_file=Path(job["lab"]["ca_file"]))
    )
    requests = [
        ServerScanRequest(
            server_location=ServerNetworkLocation(name, 443, ip_address=ip),
            scan_commands=commands,
            scan_commands_extra_arguments=extra,
        )
        for name, ip in job["hosts"]
    ]
    # sslyze's own defaults; the reference test uses the same.
    scanner = Scanner(per_server_concurrent_connections_limit=5, concurrent_server_scans_limit=20)
    scanner.queue_scans(requests)
    facts: list[list[Any]] = []
    errors: list[str] = []
    for result in scanner.get_results():
        host = result.server_location.hostname
        try:
            for (name, check), value in _sslyze_result_facts(result).items():
                if check.startswith("tls."):
                    facts.append([f"{name}:443", check, value, None])
        except (AttributeError, IndexError, TypeError) as exc:  # no connectivity, failed plugin
            errors.append(f"{host}: {type(exc).__name__} {exc}")
    return {"facts": facts, "errors": errors}


def work_httpobs(job: dict[str, Any]) -> dict[str, Any]:
    import httpobs.conf
    from httpobs.scanner.analyzer import tests
    from httpobs.scanner.retriever import retrieve_all

    # httpobs.scanner.local.scan(), plus the URL the "auto" response came from: a header
    # verdict is comparable with Utsyn's only when it is about the same page.
    httpobs.conf.SCANNER_ALLOW_LOCALHOST = True

    def scan(host: str) -> dict[str, Any]:
        reqs = retrieve_all(host, verify=True)
        auto = reqs["responses"]["auto"]
        if auto is None:
            return {"host": host, "error": "site down"}
        results = {r.pop("name"): r for r in (test(reqs) for test in tests)}
        return {
            "host": host,
            "auto_url": auto.url,
            "verified": bool(getattr(auto, "verified", False)),
            "results": {
                name: {"result": r["result"], "route": r.get("route")}
                for name, r in results.items()
            },
        }

    with ThreadPoolExecutor(job["threads"]) as pool:
        return {"scans": list(pool.map(scan, job["hosts"]))}


def work_checkdmarc(job: dict[str, Any]) -> dict[str, Any]:
    import checkdmarc
    from tests.scan.test_dns import _checkdmarc_dmarc, _checkdmarc_spf

    found = checkdmarc.check_domains(
        job["domains"], nameservers=[job["lab"]["dns_ip"]], skip_tls=True, timeout=2.0
    )
    results = found if isinstance(found, list) else [found]
    facts = []
    for result in results:
        domain = result["domain"]
        facts.append([domain, "dns.spf", _checkdmarc_spf(result["spf"]), None])
        facts.append([domain, "dns.dmarc", _checkdmarc_dmarc(dict(result["dmarc"])), None])
    return {"facts": facts}


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "utsyn": work_utsyn,
    "sslyze": work_sslyze,
    "httpobs": work_httpobs,
    "checkdmarc": work_checkdmarc,
}


def worker_main(tool: str, job_path: Path) -> None:
    job = json.loads(job_path.read_text())
    names = job.get("names", {})
    with worker_sandbox(names) as counters:
        began_cpu, began = self_cpu(), time.perf_counter()
        output = WORKERS[tool.split(":")[0]](job)
        wall, cpu = time.perf_counter() - began, self_cpu() - began_cpu
    connections = output.pop("guard_connections", None)
    dns_queries = output.pop("guard_dns_queries", None)
    report = {
        "wall": wall,
        "cpu": cpu,
        # Utsyn counts its own (every attempt through the guard); a peer is counted at
        # socket.connect / sendto, which sees the same attempts.
        "connections": connections if connections is not None else counters.tcp_connects,
        "dns_queries": dns_queries if dns_queries is not None else counters.udp_sends,
        "socket_connects": counters.tcp_connects,
        "peak_rss_mb": peak_rss_self_mb(),
        "output": output,
    }
    print(json.dumps(report))


# ======================================================================== the plan


def web_hosts(manifest: Manifest) -> list[tuple[str, list[int]]]:
    out = []
    for _, host in manifest.hosts():
        ports = sorted(
            s.effective_port
            for s in host.services
            if s.kind in (ServiceKind.HTTP, ServiceKind.HTTPS) and s.effective_port in (80, 443)
        )
        if ports:
            out.append((host.name, ports))
    return out


def tls_hosts(manifest: Manifest) -> list[str]:
    return [
        host.name
        for _, host in manifest.hosts()
        if any(s.kind == ServiceKind.HTTPS and s.effective_port == 443 for s in host.services)
    ]


def sample(items: list[Any], size: int) -> list[Any]:
    """`size` evenly spaced items (all of them for size 0 or more than there are)."""
    if size <= 0 or size >= len(items):
        return list(items)
    step = len(items) / size
    return [items[int(i * step)] for i in range(size)]


def host_footprint(names: Iterable[str]) -> list[dict[str, Any]]:
    return [{"org": "bench", "domains": [], "hostnames": list(names)}]


# ======================================================================== answers


def facts_of(rows: list[list[Any]]) -> Facts:
    return {(t, c): v for t, c, v, e in rows if e is None}


def agreement(
    ours: Facts, theirs: Facts, truth: Facts, skip: set[tuple[str, str]]
) -> dict[str, Any]:
    """Check by check on the keys both answered; each side also against the ground truth."""
    common = sorted(k for k in ours.keys() & theirs.keys() if k not in skip)
    differ = [
        f"{t} {c}: utsyn {ours[(t, c)]!r}, peer {theirs[(t, c)]!r}"
        for t, c in common
        if ours[(t, c)] != theirs[(t, c)]
    ]
    judged = [k for k in common if k in truth]
    return {
        "compared": len(common),
        "agree": len(common) - len(differ),
        "only_utsyn": len(ours.keys() - theirs.keys()),
        "only_peer": len(theirs.keys() - ours.keys()),
        "truth_judged": len(judged),
        "utsyn_right": sum(1 for k in judged if ours[k] == truth[k]),
        "peer_right": sum(1 for k in judged if theirs[k] == truth[k]),
        "differences": differ[:40],
    }


# ---------------------------------------------------------------- HTTP: derived verdicts

_HEADER_TESTS = {
    "strict-transport-security": ("strict-transport-security", ("hsts-not-implemented",)),
    "content-security-policy": ("content-security-policy", ("csp-not-implemented",)),
    "x-content-type-options": (
        "x-content-type-options",
        ("x-content-type-options-not-implemented",),
    ),
    "referrer-policy": ("referrer-policy", ("referrer-policy-not-implemented",)),
}


def http_verdicts(facts: Facts, targets: Iterable[str]) -> Facts:
    """Utsyn's (or the ground truth's) HTTP facts as the yes/no questions httpobs answers."""
    out: Facts = {}
    for target in targets:
        for header in _HEADER_TESTS:
            value = facts.get((target, f"http.header.{header}"), ...)
            if value is not ...:
                out[(target, f"present.{header}")] = value is not None
        cookies = facts.get((target, "http.cookies"))
        if cookies is not None:
            out[(target, "cookies.set")] = bool(cookies)
        sri = facts.get((target, "http.sri_missing"))
        if sri is not None:
            out[(target, "sri.missing")] = bool(sri)
        redirect = facts.get((target, "http.redirects_to_https"))
        if redirect is not None:
            out[(target, "redirects_to_https")] = redirect
    return out


def httpobs_verdicts(scans: list[dict[str, Any]]) -> tuple[Facts, list[str]]:
    out: Facts = {}
    errors = []
    for scan in scans:
        host = scan["host"]
        if "error" in scan:
            errors.append(f"{host}: {scan['error']}")
            continue
        results = scan["results"]
        auto = scan["auto_url"]
        page = {f"https://{host}/": f"{host}:443", f"http://{host}/": f"{host}:80"}.get(auto)
        if page is not None:  # the page itself, not another one it redirected to
            for header, (test, absent) in _HEADER_TESTS.items():
                result = results[test]["result"]
                if not result.endswith(("-invalid-cert", "-no-https")):
                    out[(page, f"present.{header}")] = result not in absent
            out[(page, "cookies.set")] = results["cookies"]["result"] != "cookies-not-found"
            sri = results["subresource-integrity"]["result"]
            out[(page, "sri.missing")] = sri.startswith("sri-not-implemented-") and (
                "external-scripts" in sri
            )
        redirection = results["redirection"]
        if redirection["result"] not in (
            "redirection-not-needed-no-http",
            "redirection-invalid-cert",
        ):
            route = redirection["route"] or []
            ends_https = len(route) > 1 and urlsplit(route[-1]).scheme == "https"
            out[(f"{host}:80", "redirects_to_https")] = ends_https
    return out, errors


# ---------------------------------------------------------------- nmap

_NMAP_KINDS = {
    "ssh": "ssh", "ftp": "ftp", "smtp": "smtp", "telnet": "telnet", "domain": "dns",
    "http": "http", "https": "https", "ldap": "ldap", "microsoft-ds": "smb", "ms-sql-s": "mssql",
    "mysql": "mysql", "ms-wbt-server": "rdp", "postgresql": "postgres", "vnc": "vnc",
    "redis": "redis", "memcached": "memcached", "mongodb": "mongodb",
}  # fmt: skip


def nmap_facts(xml_text: str, host_of: dict[str, str]) -> Facts:
    out: Facts = {}
    root = ET.fromstring(xml_text)
    for host in root.iter("host"):
        address = host.find("address")
        if address is None:
            continue
        name = host_of.get(address.get("addr", ""), address.get("addr", ""))
        for port in host.iter("port"):
            state = port.find("state")
            if state is None or state.get("state") != "open":
                continue
            target = f"{name}:{port.get('portid')}"
            out[(target, "service.open")] = True
            service = port.find("service")
            if service is None:
                continue
            kind = _NMAP_KINDS.get(service.get("name", ""), f"nmap:{service.get('name')}")
            if kind == "http" and service.get("tunnel") == "ssl":
                kind = "https"
            if "elasticsearch" in service.get("product", "").lower():
                kind = "elasticsearch"
            out[(target, "service.kind")] = kind
    return out


def services_truth(manifest: Manifest, ports: tuple[int, ...]) -> Facts:
    truth: Facts = {}
    index = expected_index(manifest)
    for _, host in manifest.hosts():
        for service in host.services:
            if service.effective_port in ports:
                target = f"{host.name}:{service.effective_port}"
                truth[(target, "service.open")] = True
                truth[(target, "service.kind")] = index[(target, "service.kind")]
    return truth


def utsyn_service_facts(rows: list[list[Any]]) -> Facts:
    facts = facts_of(rows)
    return {k: v for k, v in facts.items() if k[1] in ("service.open", "service.kind")}


# ======================================================================== the floor


def floor(lab: LabProcess, manifest: Manifest, handshakes: int) -> dict[str, Any]:
    """The lab's CPU per bare TCP connection and per full TLS handshake on one host."""
    modern = next(
        (host, s)
        for _, host in manifest.hosts()
        for s in host.services
        if s.kind == ServiceKind.HTTPS and s.tls is not None and not s.tls.legacy
    )
    host, service = modern
    ip = lab.info.addresses[host.name]
    context = ssl.create_default_context(cafile=str(lab.info.ca_file))

    def tcp_once() -> None:
        with socket.create_connection((ip, service.effective_port), timeout=5):
            pass

    def tls_once() -> None:
        with (
            socket.create_connection((ip, service.effective_port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=host.name),
        ):
            pass

    def lab_cost(action: Callable[[], None]) -> tuple[float, float]:
        before, began = lab.cpu(), time.perf_counter()
        for _ in range(handshakes):
            action()
        time.sleep(0.2)  # let the lab finish closing the last connections
        return (lab.cpu() - before) / handshakes, (time.perf_counter() - began) / handshakes

    with egress_guard():
        tcp_cpu, tcp_wall = lab_cost(tcp_once)
        tls_cpu, tls_wall = lab_cost(tls_once)
    assert service.tls is not None
    return {
        "host": f"{host.name}:{service.effective_port}",
        "profile": {
            "versions": [str(v) for v in service.tls.versions],
            "key": str(service.tls.cert.key),
        },
        "n": handshakes,
        "lab_cpu_ms_per_tcp_connection": tcp_cpu * 1000,
        "lab_cpu_ms_per_tls_handshake": tls_cpu * 1000,
        "client_wall_ms_per_tls_handshake": tls_wall * 1000,
        "client_wall_ms_per_tcp_connection": tcp_wall * 1000,
    }


def minimum_connections(manifest: Manifest, lab: LabInfo, ports: tuple[int, ...]) -> dict[str, int]:
    """The TCP connections a full scan cannot do without, from the families' job lists.

    Per host: one connection per probed port; then one per job, except the jobs that open
    none (services of HTTP(S)/DNS are judged by other families; SSH/FTP/SMTP reuse the
    greeting discovery read; the open-resolver probe is UDP; an https service's zone-apex
    question is DNS). Zones need DNS only.
    """
    from utsyn.scan.discovery import PROTOCOL_BY_PORT
    from utsyn.scan.registry import FAMILIES

    minimum = probes = jobs = 0
    for _, host in manifest.hosts():
        probes += len(ports)
        for service in host.services:
            if service.effective_port not in ports:
                continue
            kind = "dns" if service.kind == ServiceKind.DNS_RESOLVER else str(service.kind)
            kind = kind if kind in PROTOCOL_BY_PORT.values() else "unknown"
            greets = service.banner is not None and kind in ("ssh", "ftp", "smtp")
            target = ServiceTarget(
                host.name,
                lab.addresses[host.name],
                service.effective_port,
                kind,
                service.banner if greets else None,
            )
            for family in FAMILIES:
                for job in family.jobs(target):
                    jobs += 1
                    free = (
                        (job.family == "services" and (kind in ("http", "https", "dns") or greets))
                        or (job.family == "dns")
                        or (job.family == "http" and job.name == "apex")
                    )
                    minimum += 0 if free else 1
    return {"port_probes": probes, "jobs": jobs, "minimum": probes + minimum}


# ======================================================================== running it all


def measure_pair(
    label: str,
    peer: Callable[[], Measured],
    utsyn: Callable[[], Measured],
    compare: Callable[[Measured, Measured], dict[str, Any]],
    scale: float,
) -> dict[str, Any]:
    print(f"  {label}: peer ...", flush=True, file=sys.stderr)
    theirs = peer()
    print(f"  {label}: utsyn ...", flush=True, file=sys.stderr)
    ours = utsyn()
    return {
        "peer": label,
        "peer_run": theirs.to_json(),
        "utsyn_run": ours.to_json(),
        "agreement": compare(ours, theirs),
        "extrapolation_factor": scale,
    }


def run_scenario(scenario: Scenario, args: argparse.Namespace) -> dict[str, Any]:
    manifest = scenario.manifest()
    hosts = [h.name for _, h in manifest.hosts()]
    domains = [d.name for o in manifest.organisations for d in o.domains]
    print(f"{scenario.kind}: {len(hosts)} hosts, {len(domains)} zones", file=sys.stderr)
    state = Path(tempfile.mkdtemp(prefix="utsyn-bench-lab-"))
    lab = LabProcess(scenario, state)
    info = lab.info
    names = name_map(manifest, info.addresses)
    truth = expected_index(scenario.truth_manifest())
    base = {"scenario": scenario.to_json(), "lab": info.to_json(), "names": names}
    pairs: list[dict[str, Any]] = []
    report: dict[str, Any] = {
        "scenario": scenario.to_json(),
        "hosts": len(hosts),
        "zones": len(domains),
        "lab_started_in": info.started_in,
    }

    def utsyn(families: list[str], fp: list[dict[str, Any]], prefixes: tuple[str, ...]) -> Measured:
        job = {**base, "families": families, "fp": fp, "prefixes": list(prefixes)}
        return run_worker("utsyn", job, lab)

    try:
        if "utsyn" in args.peers:
            print("  utsyn: full scan ...", file=sys.stderr, flush=True)
            full = utsyn(
                ["all"],
                [
                    {
                        "org": o.orgnr,
                        "domains": [d.name for d in o.domains],
                        "hostnames": [h.name for h in o.hosts],
                    }
                    for o in manifest.organisations
                ],
                ("tls.", "http.", "dns.", "service.", "smtp.", "ssh.", "imap.", "pop3.", "mail."),
            )
            rows = full.output.pop("facts")
            facts = facts_of(rows)
            judged = [k for k in truth if k in facts]
            report["utsyn_full"] = {
                **full.to_json(),
                **{k: v for k, v in full.output.items()},
                "ground_truth_facts": len(truth),
                "observed_of_truth": len(judged),
                "right_of_truth": sum(1 for k in judged if facts[k] == truth[k]),
                "connection_floor": minimum_connections(manifest, info, DEFAULT_PORTS),
                "seconds_per_host": full.wall / len(hosts),
            }
        if "sslyze" in args.peers:
            chosen = sample(tls_hosts(manifest), args.sample_sslyze)
            job = {**base, "hosts": [[h, info.addresses[h]] for h in chosen]}
            from tests.scan.test_tls import DIVERGENCES

            tls_truth = {k: v for k, v in truth.items() if k[1].startswith("tls.")}
            skip = {(f"{h}:443", c) for h, c in DIVERGENCES}
            pairs.append(
                measure_pair(
                    f"sslyze ({len(chosen)} hosts)",
                    lambda: run_worker("sslyze", job, lab),
                    lambda: utsyn(["tls"], host_footprint(f"{h}:443" for h in chosen), ("tls.",)),
                    lambda o, t: agreement(
                        facts_of(o.output["facts"]), facts_of(t.output["facts"]), tls_truth, skip
                    ),
                    len(tls_hosts(manifest)) / max(1, len(chosen)),
                )
            )
        if "httpobs" in args.peers:
            chosen_web = sample(web_hosts(manifest), args.sample_httpobs)
            job = {**base, "hosts": [h for h, _ in chosen_web], "threads": args.httpobs_threads}
            targets = [f"{h}:{p}" for h, ports in chosen_web for p in ports]
            http_truth = http_verdicts(truth, targets)

            def http_compare(o: Measured, t: Measured) -> dict[str, Any]:
                theirs, errors = httpobs_verdicts(t.output["scans"])
                result = agreement(
                    http_verdicts(facts_of(o.output["facts"]), targets), theirs, http_truth, set()
                )
                result["peer_errors"] = errors[:20]
                return result

            pairs.append(
                measure_pair(
                    f"httpobs ({len(chosen_web)} hosts, {args.httpobs_threads} threads)",
                    lambda: run_worker("httpobs", job, lab, ca_env=True),
                    lambda: utsyn(["http"], host_footprint(targets), ("http.",)),
                    http_compare,
                    len(web_hosts(manifest)) / max(1, len(chosen_web)),
                )
            )
        if "checkdmarc" in args.peers:
            job = {**base, "domains": domains}
            dns_truth = {k: v for k, v in truth.items() if k[1] in ("dns.spf", "dns.dmarc")}
            fp = [{"org": "bench", "domains": domains, "hostnames": []}]
            # Utsyn's DNS family also guesses 9 DKIM selectors, reads CAA and tries zone
            # transfers, which checkdmarc does not: the same-work run leaves those out.
            for label, family in (
                (f"checkdmarc ({len(domains)} zones)", SAME_AS_CHECKDMARC),
                (f"checkdmarc vs whole DNS family ({len(domains)} zones)", "dns"),
            ):
                pairs.append(
                    measure_pair(
                        label,
                        lambda: run_worker("checkdmarc", job, lab, ca_env=True),
                        lambda family=family: utsyn([family], fp, ("dns.spf", "dns.dmarc")),  # type: ignore[misc]
                        lambda o, t: agreement(
                            facts_of(o.output["facts"]),
                            facts_of(t.output["facts"]),
                            dns_truth,
                            set(),
                        ),
                        1.0,
                    )
                )
        if "nmap" in args.peers:
            chosen_hosts = sample(hosts, args.sample_nmap)
            ips = [info.addresses[h] for h in chosen_hosts]
            host_of = {info.addresses[h]: h for h in chosen_hosts}
            sub = _submanifest(manifest, set(chosen_hosts))
            svc_truth = services_truth(sub, DEFAULT_PORTS)

            def nmap() -> Measured:
                xml_path = state / "nmap.xml"
                command = [
                    "nmap",
                    "-n",
                    "-Pn",
                    "-sT",
                    "-sV",
                    "--version-light",
                    "--packet-trace",
                    "-p",
                    ",".join(map(str, DEFAULT_PORTS)),
                    "-oX",
                    str(xml_path),
                    *ips,
                ]
                measured, trace = run_child("nmap", command, lab, with_stderr=True)
                measured.cpu = measured.process_cpu
                # One CONN line per connect() of the port scan; NSOCK connects of -sV.
                measured.connections = sum(
                    1
                    for line in trace.splitlines()
                    if line.startswith("CONN ") or "nsock_connect_tcp" in line
                )
                measured.output = {"xml": xml_path.read_text()}
                return measured

            def services_compare(o: Measured, t: Measured) -> dict[str, Any]:
                theirs = nmap_facts(t.output.pop("xml"), host_of)
                return agreement(utsyn_service_facts(o.output["facts"]), theirs, svc_truth, set())

            pairs.append(
                measure_pair(
                    f"nmap -sV light ({len(chosen_hosts)} hosts)",
                    nmap,
                    lambda: utsyn(["services"], host_footprint(chosen_hosts), ("service.",)),
                    services_compare,
                    len(hosts) / max(1, len(chosen_hosts)),
                )
            )
        if args.floor:
            print("  floor: lab CPU per connection and handshake ...", file=sys.stderr, flush=True)
            report["floor"] = floor(lab, manifest, args.floor)
    finally:
        lab.stop()
    for pair in pairs:
        for side in ("peer_run", "utsyn_run"):
            pair[side].pop("output", None)
    report["pairs"] = pairs
    return report


def _submanifest(manifest: Manifest, keep: set[str]) -> Manifest:
    orgs = [
        o.model_copy(update={"hosts": tuple(h for h in o.hosts if h.name in keep)})
        for o in manifest.organisations
    ]
    return manifest.model_copy(update={"organisations": tuple(orgs)})


# ======================================================================== the table


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.3g}"


def _n(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def table(report: dict[str, Any]) -> str:
    lines = []
    for scen in report["scenarios"]:
        head = f"## {scen['scenario']['kind']}: {scen['hosts']} hosts, {scen['zones']} zones"
        lines += ["", head, ""]
        full = scen.get("utsyn_full")
        if full:
            floor_ = full["connection_floor"]
            lines.append(
                f"Utsyn, every family: {full['wall']:.1f} s wall, {full['cpu']:.1f} s CPU, "
                f"{full['peak_rss_mb']:.0f} MB peak, {full['connections']} connections "
                f"(floor {floor_['minimum']}: {full['connections'] / floor_['minimum']:.2f}×), "
                f"{full['dns_queries']} DNS queries, lab CPU {full['lab_cpu']:.1f} s; "
                f"{full['seconds_per_host'] * 1000:.0f} ms wall per host; ground truth "
                f"{full['right_of_truth']}/{full['observed_of_truth']} right "
                f"({full['ground_truth_facts']} facts)"
            )
            lines.append("")
        cols = [
            "peer",
            "wall s peer/utsyn",
            "ratio",
            "CPU s peer/utsyn",
            "ratio",
            "RSS MB peer/utsyn",
            "conns peer/utsyn",
            "lab CPU s peer/utsyn",
            "agree",
            "truth utsyn/peer",
        ]
        lines.append("| " + " | ".join(cols) + " |")
        lines.append("|" + "---|" * len(cols))
        for pair in scen["pairs"]:
            p, u, a = pair["peer_run"], pair["utsyn_run"], pair["agreement"]
            lines.append(
                "| "
                + " | ".join(
                    [
                        pair["peer"],
                        f"{_n(p['wall'], 1)} / {_n(u['wall'], 2)}",
                        _ratio(u["wall"], p["wall"]),
                        f"{_n(p['cpu'], 1)} / {_n(u['cpu'], 2)}",
                        _ratio(u["cpu"], p["cpu"]),
                        f"{p['peak_rss_mb']:.0f} / {u['peak_rss_mb']:.0f}",
                        f"{p['connections']} / {u['connections']}",
                        f"{_n(p['lab_cpu'], 1)} / {_n(u['lab_cpu'], 1)}",
                        f"{a['agree']}/{a['compared']}",
                        f"{a['utsyn_right']}/{a['peer_right']} of {a['truth_judged']}",
                    ]
                )
                + " |"
            )
            if pair["extrapolation_factor"] > 1.0:
                f = pair["extrapolation_factor"]
                lines.append(
                    f"|  ↳ extrapolated to all ({f:.1f}×) | {p['wall'] * f:.0f} / "
                    f"{u['wall'] * f:.1f} | | | | | | | | |"
                )
        fl = scen.get("floor")
        if fl:
            lines += [
                "",
                (
                    f"Floor on {fl['host']} ({', '.join(fl['profile']['versions'])}, "
                    f"{fl['profile']['key']}), n={fl['n']}: lab CPU "
                    f"{fl['lab_cpu_ms_per_tcp_connection']:.3f} ms per TCP connection, "
                    f"{fl['lab_cpu_ms_per_tls_handshake']:.3f} ms per TLS handshake"
                ),
            ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--job", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--scenario", choices=["demo", "generated", "both"], default="both")
    parser.add_argument("--hosts", type=int, default=1000, help="hosts of the generated scenario")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--tier", choices=["python", "real"], default="python",
        help="the lab's servers: Utsyn's own, or real Debian software where it can (lab.real)",
    )  # fmt: skip
    parser.add_argument(
        "--peers",
        default="utsyn," + ",".join(PEERS),
        help="comma-separated: utsyn (the full scan), " + ", ".join(PEERS),
    )
    parser.add_argument("--sample-sslyze", type=int, default=40, help="hosts (0: all)")
    parser.add_argument("--sample-httpobs", type=int, default=0, help="web hosts (0: all)")
    parser.add_argument("--sample-nmap", type=int, default=100, help="hosts (0: all)")
    parser.add_argument("--httpobs-threads", type=int, default=16)
    parser.add_argument("--floor", type=int, default=500, help="handshakes for the floor (0: skip)")
    parser.add_argument("--json", type=Path, help="write the full report here")
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker, args.job)
        return
    args.peers = set(args.peers.split(","))
    unknown = args.peers - {"utsyn", *PEERS}
    if unknown:
        parser.error(f"unknown peers: {', '.join(sorted(unknown))}")
    scenarios = []
    if args.scenario in ("demo", "both"):
        scenarios.append(Scenario("demo", tier=args.tier))
    if args.scenario in ("generated", "both"):
        orgs = orgs_for_hosts(args.hosts, args.seed)
        scenarios.append(Scenario("generated", orgs, args.seed, args.tier))
    began = time.perf_counter()
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine(),
        "command": " ".join(sys.argv),
        "scenarios": [run_scenario(s, args) for s in scenarios],
    }
    report["total_seconds"] = time.perf_counter() - began
    text = table(report)
    print(text)
    print(f"\n(total {report['total_seconds']:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


def machine() -> dict[str, Any]:
    import os
    import platform
    from importlib.metadata import version

    def peer_version(name: str) -> str:
        try:
            return version(name)
        except Exception:
            return "not installed"

    try:
        nmap = subprocess.run(["nmap", "--version"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        nmap = "not installed"
    meminfo = Path("/proc/meminfo").read_text()
    total = re.search(r"MemTotal:\s+(\d+)", meminfo)
    return {
        "nproc": os.cpu_count(),
        "ram_gb": round(int(total.group(1)) / 1024 / 1024, 1) if total else None,
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "?",
        ),
        "python": platform.python_version(),
        "utsyn": peer_version("utsyn"),
        "sslyze": peer_version("sslyze"),
        "httpobs": peer_version("httpobs"),
        "checkdmarc": peer_version("checkdmarc"),
        "nmap": nmap.splitlines()[0] if nmap else "not installed",
        "openssl": ssl.OPENSSL_VERSION,
    }


if __name__ == "__main__":
    main()
