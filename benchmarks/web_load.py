"""The web service under load while a scan stores its results into the same SQLite file.

    .venv/bin/python -m benchmarks.web_load [--users 50] [--seconds 60] [--think 0.5] [--append]

What `utsyn demo` builds, built the same way: the demo lab in a process of its own (on
127.190.x.y, DNS on 127.61.0.1), `utsyn scan --scenario demo` into a fresh SQLite database,
and the footprints the lab publishes tokens for verified over DNS. Then `utsyn serve` (a
process of its own) and, for `--seconds`, `--users` users at once, each logged in first,
each making one request after another with a random pause (0 to 2 × `--think` seconds):

- organisation users (3 in 5: org_admin and org_viewer of 10 organisations): the scorecard,
  footprint and alerts pages, and the API's rating, findings, history and planner; an
  org_admin now and then explains a low finding (a write that re-rates the organisation)
  or makes an API token (a write);
- national users (2 in 5, national_analyst): the overview, the map, the dispute queue and
  an issue page, and the API's national figures, breakdown, organisations and disputes.

Meanwhile `utsyn scan --scenario demo` stores into the same file, and again as soon as it
ends, so that a scan is storing for the whole run. An answer other than the expected
status, a transport error, or a scan that does not exit 0 is an error: there must be none.
Reported: requests per second, p50/p95/p99 latency (all and by class), the scans, the
server's CPU and peak memory, and the machine's load. Exit status 1 on any error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from utsyn.cli.demo import verify_published
from utsyn.clock import now_utc
from utsyn.lab.runtime import LabInfo, read_state
from utsyn.lab.scenarios import load_scenario
from utsyn.rules.rulebook import load_rulebook
from utsyn.rules.weights import Severity
from utsyn.settings import get_settings
from utsyn.store import users
from utsyn.store.db import open_session
from utsyn.store.findings import finding_states
from utsyn.store.models import Organisation, OrgLatest
from utsyn.testing.egress import egress_guard
from utsyn.web.security import hash_password, new_api_token

REPO = Path(__file__).resolve().parent.parent
LAB_DNS_IP, LAB_FIRST_OCTET = "127.61.0.1", 190  # beside the other benchmarks' labs
HOST = "127.0.0.1"
PASSWORD = "lang og tilfeldig passord for lasttesten"
ORGS = 10  # organisations with users of their own
SELF_SERVICE = (Severity.LOW, Severity.MEDIUM)  # explained at once (no national review)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# ---------------------------------------------------------------- the demo database


@contextmanager
def demo_lab(env: dict[str, str], data_dir: Path) -> Iterator[LabInfo]:
    """`utsyn lab up --scenario demo` in a process of its own; its state file makes
    `utsyn scan --scenario demo` use it."""
    command = [
        *(sys.executable, "-m", "utsyn", "lab", "up", "--scenario", "demo"),
        *("--dns-ip", LAB_DNS_IP, "--first-octet", str(LAB_FIRST_OCTET)),
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    state = data_dir / "lab" / "lab.json"
    try:
        deadline = time.monotonic() + 180
        while (found := read_state(state)) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the benchmark lab did not start")
            time.sleep(0.5)
        yield found[1]
    finally:
        process.terminate()
        process.wait(timeout=30)


def stored_scan(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "utsyn", "scan", "--scenario", "demo"],
        env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip


@dataclass(frozen=True)
class Account:
    email: str
    role: str
    orgnr: str | None
    token: str
    keys: tuple[str, ...] = ()  # low and medium findings an org_admin may explain


def accounts(count: int) -> list[Account]:
    """`count` accounts on the stored demo, each with an API token: 2 in 5 national
    analysts, the others org_admin or org_viewer of ORGS organisations spread over the
    ratings (worst to best)."""
    book = load_rulebook()
    now = now_utc()
    password_hash = hash_password(PASSWORD)
    made = []
    with open_session() as session:
        ranked = list(session.scalars(select(OrgLatest.org_id).order_by(OrgLatest.score)))
        chosen = [session.get_one(Organisation, i) for i in ranked[:: len(ranked) // ORGS]][:ORGS]
        keys = {
            org.orgnr: tuple(
                key
                for key, state in finding_states(session, org).items()
                if state.resolved is None and book.rule(state.rule).severity in SELF_SERVICE
            )
            for org in chosen
        }
        for n in range(count):
            org = None if n % 5 in (1, 3) else chosen[n % ORGS]
            role = "national_analyst" if org is None else ("org_admin" if n % 2 else "org_viewer")
            email = f"user{n}@last.test"
            user = users.add_user(session, email, password_hash, role, org.id if org else None, now)
            token, digest = new_api_token()
            users.add_token(session, user, "load", digest, now, now + timedelta(days=1))
            orgnr = org.orgnr if org else None
            own_keys = keys[orgnr] if orgnr and role == "org_admin" else ()
            made.append(Account(email, role, orgnr, token, own_keys))
    return made


# ---------------------------------------------------------------- the server


@contextmanager
def server(env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """`utsyn serve` on a free port of 127.0.0.1: (base URL, pid)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "utsyn", "serve", "--host", HOST, "--port", str(port)],
            env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"utsyn serve did not start: {log.read_text()[-2000:]}")
            try:
                httpx.get(f"{base}/login", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_mb(pid: int, field: str) -> float:
    """VmRSS (now) or VmHWM (the peak) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------- the users


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)

    def count(self) -> int:
        return sum(len(v) for v in self.latencies.values())


@dataclass(frozen=True)
class Request:
    kind: str  # the class it is reported under
    method: str
    path: str
    expected: int
    json: dict[str, object] | None = None
    api: bool = True


def org_requests(account: Account, rng: random.Random) -> Request:
    o = account.orgnr
    api = f"/api/v1/organisations/{o}"
    if account.keys and rng.random() < 0.04:
        expires = (now_utc() + timedelta(days=30)).isoformat()
        body: dict[str, object] = {
            "key": rng.choice(account.keys), "kind": "compensating_control",
            "reason": "Load test: handled by the WAF.", "expires": expires,
        }  # fmt: skip
        return Request("write", "POST", f"{api}/explanations", 201, body)
    if account.role == "org_admin" and rng.random() < 0.02:
        # From the logged-in browser session (a token may not mint tokens).
        body = {"name": "load", "days": 1}
        return Request("write", "POST", "/api/v1/tokens", 201, body, api=False)
    choices = [
        Request("org page", "GET", f"/org/{o}", 200, api=False),
        Request("org page", "GET", f"/org/{o}/fotavtrykk", 200, api=False),
        Request("org page", "GET", f"/org/{o}/varsler", 200, api=False),
        Request("org API", "GET", f"{api}/rating", 200),
        Request("org API", "GET", f"{api}/findings", 200),
        Request("org API", "GET", f"{api}/history", 200),
    ]
    if account.keys:
        fix = {"fix": [rng.choice(account.keys)]}
        choices.append(Request("org API", "POST", f"{api}/plan", 200, fix))
    return rng.choice(choices)


def national_requests(_account: Account, rng: random.Random) -> Request:
    return rng.choice(
        [
            Request("national page", "GET", "/oversikt", 200, api=False),
            Request("national page", "GET", "/nasjonalt", 200, api=False),
            Request("national page", "GET", "/tvister", 200, api=False),
            Request("national page", "GET", "/issue/web.hsts.missing", 200, api=False),
            Request("national API", "GET", "/api/v1/national", 200),
            Request("national API", "GET", "/api/v1/national/breakdown?by=county", 200),
            Request("national API", "GET", "/api/v1/organisations?limit=50", 200),
            Request("national API", "GET", "/api/v1/disputes", 200),
        ]
    )


async def log_in(client: httpx.AsyncClient, account: Account) -> str:
    """Logs in; returns the session's CSRF token (for writes through the session)."""
    form = await client.get("/login")
    data = {"email": account.email, "password": PASSWORD, "csrf_token": _csrf(form.text)}
    answer = await client.post("/login", data=data)
    if answer.status_code != 303:
        raise RuntimeError(f"{account.email} could not log in: {answer.status_code}")
    landing = await client.get(answer.headers["location"], follow_redirects=True)
    return _csrf(landing.text)


def _csrf(page: str) -> str:
    found = _CSRF.search(page)
    if found is None:
        raise RuntimeError("no CSRF token on the page")
    return found.group(1)


async def user(
    account: Account, base: str, until: float, think: float, seed: int, tally: Tally
) -> None:
    rng = random.Random(seed)
    pick = national_requests if account.orgnr is None else org_requests
    bearer = {"Authorization": f"Bearer {account.token}"}
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        session = {"X-CSRF-Token": await log_in(client, account)}
        await asyncio.sleep(rng.uniform(0, 2 * think))
        while time.monotonic() < until:
            request = pick(account, rng)
            headers = bearer if request.api else session
            began = time.monotonic()
            try:
                answer = await client.request(
                    request.method, request.path, json=request.json, headers=headers
                )
                status = answer.status_code
            except httpx.HTTPError as exc:
                tally.errors.append(f"{request.method} {request.path}: {exc!r}")
                continue
            tally.latencies[request.kind].append(time.monotonic() - began)
            if status != request.expected:
                tally.errors.append(
                    f"{request.method} {request.path}: {status} {answer.text[:200]}"
                )
            await asyncio.sleep(rng.uniform(0, 2 * think))


# ---------------------------------------------------------------- the run


@dataclass
class Scans:
    done: int = 0
    failed: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self, env: dict[str, str]) -> None:
        """Stored scans one after another until told to stop (the last one finishes)."""
        while not self.stop.is_set():
            finished = stored_scan(env)
            if finished.returncode == 0:
                self.done += 1
            else:
                self.failed.append(finished.stderr[-1000:])


@dataclass
class Result:
    users: int
    asked: float  # --seconds
    seconds: float  # as measured (the last requests finish after the deadline)
    think: float
    tally: Tally
    scans: Scans
    server_cpu: float
    server_rss_mb: float  # at the end
    server_peak_mb: float  # the logins at the start included
    load: list[float]


def measure(base: str, pid: int, people: list[Account], args: argparse.Namespace,
            env: dict[str, str]) -> Result:  # fmt: skip
    tally, scans = Tally(), Scans()
    loads: list[float] = []

    async def everyone() -> None:
        until = time.monotonic() + args.seconds
        tasks = [user(a, base, until, args.think, n, tally) for n, a in enumerate(people)]
        await asyncio.gather(*tasks)

    scanning = threading.Thread(target=scans.run, args=(env,))
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(5):
            loads.append(os.getloadavg()[0])

    sampler = threading.Thread(target=sample)
    cpu_before = process_cpu(pid)
    scanning.start()
    sampler.start()
    began = time.monotonic()
    try:
        asyncio.run(everyone())
        elapsed = time.monotonic() - began
        server_cpu = process_cpu(pid) - cpu_before
    finally:  # the scan running now finishes; no other starts
        scans.stop.set()
        sampling.set()
        sampler.join()
        scanning.join()
    return Result(len(people), args.seconds, elapsed, args.think, tally, scans, server_cpu,
                  memory_mb(pid, "VmRSS"), memory_mb(pid, "VmHWM"), loads)  # fmt: skip


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    return at(0.50), at(0.95), at(0.99)


def report(result: Result, load_before: float) -> str:
    tally = result.tally
    everything = [v for values in tally.latencies.values() for v in values]
    rows = [("all", everything), *sorted(tally.latencies.items())]
    lines = [
        "## Web under load with a scan storing (`benchmarks/web_load.py`)",
        "",
        f"`python -m benchmarks.web_load --users {result.users} --seconds "
        f"{result.asked:g} --think {result.think:g}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores. Load average {load_before:.1f} before; during the run "
        f"{min(result.load or [0]):.1f}–{max(result.load or [0]):.1f} (the machine is "
        "shared). The demo database on SQLite (as `utsyn demo` builds it), `utsyn serve` "
        "(one process), a stored `utsyn scan --scenario demo` running the whole time.",
        "",
        "| requests | count | per second | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, values in rows:
        if values:
            p50, p95, p99 = _quantiles(values)
            rate = len(values) / result.seconds
            lines.append(
                f"| {name} | {len(values)} | {rate:.1f} | {p50:.0f} | {p95:.0f} | {p99:.0f} |"
            )
    lines += [
        "",
        f"Errors: **{len(tally.errors) + len(result.scans.failed)}** "
        f"({len(tally.errors)} requests, {len(result.scans.failed)} scans). Stored scans "
        f"finished meanwhile: {result.scans.done}. The server spent {result.server_cpu:.0f} "
        f"CPU seconds ({result.server_cpu / result.seconds:.2f} cores); its RSS was "
        f"{result.server_rss_mb:.0f} MB at the end, {result.server_peak_mb:.0f} MB at the peak "
        "(the users' logins at the start included: each password check takes argon2's "
        "64 MiB).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--think", type=float, default=0.5, help="mean pause, seconds")
    parser.add_argument("--append", action="store_true", help="add to benchmarks/RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, egress_guard():
        data = Path(folder) / "data"
        env = {**os.environ, "UTSYN_DATA_DIR": str(data), "UTSYN_SECRET_KEY": "load-" * 10}
        env.pop("UTSYN_DATABASE_URL", None)
        os.environ.update({"UTSYN_DATA_DIR": str(data)})
        os.environ.pop("UTSYN_DATABASE_URL", None)
        get_settings.cache_clear()
        with demo_lab(env, data) as info:
            print("building the demo database", flush=True)
            done = stored_scan(env)
            if done.returncode != 0:
                raise RuntimeError(f"the demo scan failed: {done.stderr[-2000:]}")
            verify_published(load_scenario("demo"), info)
            people = accounts(args.users)
            load_before = os.getloadavg()[0]
            with server(env, Path(folder) / "serve.log") as (base, pid):
                print(f"{args.users} users for {args.seconds:.0f} s", flush=True)
                result = measure(base, pid, people, args, env)
    text = report(result, load_before)
    print(text)
    for error in (result.tally.errors + result.scans.failed)[:10]:
        print("error:", error, file=sys.stderr)
    if args.append:
        with (REPO / "benchmarks" / "RESULTS.md").open("a", encoding="utf-8") as out:
            out.write("\n" + text + "\n")
    if result.tally.errors or result.scans.failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
