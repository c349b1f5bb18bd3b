"""`utsyn worker` and `utsyn scheduler`, as two Typer command functions.

The main CLI mounts them with `app.command("worker")(worker_command)` and
`app.command("scheduler")(scheduler_command)`; `python -m utsyn.worker.cli` runs them alone.
"""

from __future__ import annotations

import signal
import socket
import threading
from pathlib import Path
from typing import Annotated

import typer

from utsyn.errors import ConfigError
from utsyn.scan.family import ScanConfig
from utsyn.scan.guard import ScopePolicy
from utsyn.settings import get_settings


def worker_command(
    queues: Annotated[
        str, typer.Option(help="Queues in priority order: the first is served first.")
    ] = "urgent,periodic",
    concurrency: Annotated[
        int | None, typer.Option(help="Targets scanned at once (UTSYN_WORKER_CONCURRENCY).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Worker name (default: worker@host).")] = None,
    loglevel: Annotated[str, typer.Option(help="Log level.")] = "INFO",
) -> None:
    """Run a scan worker: takes scan and rating tasks from the broker (UTSYN_BROKER_URL)."""
    from utsyn.worker.app import app

    app.worker_main(worker_argv(queues, concurrency, name, loglevel))


def worker_argv(queues: str, concurrency: int | None, name: str | None, loglevel: str) -> list[str]:
    # Threads, not forked children: a scan waits on the network, so one process keeps many
    # in flight, and its metrics live in the process that serves them.
    threads = concurrency or get_settings().worker_concurrency
    return [
        "worker",
        f"--queues={queues}",
        "--pool=threads",
        f"--concurrency={threads}",
        f"--loglevel={loglevel}",
        f"--hostname={name or f'worker-{threads}@{socket.gethostname()}'}",
        "--without-gossip",  # workers need not know each other: the database coordinates
        "--without-mingle",
    ]


def scheduler_command(
    scope: Annotated[str, typer.Option(help="'internet', or 'lab' for the lab.")] = "internet",
    resolver: Annotated[
        list[str] | None, typer.Option(help="Name server (repeat); default: the system's.")
    ] = None,
    resolver_port: Annotated[int, typer.Option(help="Port of the name servers.")] = 53,
    ca_file: Annotated[Path | None, typer.Option(help="Extra trusted CA (the lab's).")] = None,
    trust_anchor: Annotated[Path | None, typer.Option(help="DNSSEC trust anchor file.")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between ticks.")] = 60.0,
    once: Annotated[bool, typer.Option(help="One tick, then exit (for cron).")] = False,
    periodic: Annotated[
        bool, typer.Option(help="Plan periodic rescans (off: only reconcile and feeds).")
    ] = True,
) -> None:
    """Plan periodic rescans, the daily feed task, and re-send work the broker lost."""
    from utsyn.worker.app import app
    from utsyn.worker.logs import configure_json_logging
    from utsyn.worker.scheduler import Scheduler, migrate

    configure_json_logging()
    settings = get_settings()
    config = scan_config(scope, tuple(resolver or ()), resolver_port, ca_file, trust_anchor)
    migrate(settings)
    scheduler = Scheduler(app, config, settings, periodic=periodic)
    if once:
        scheduler.tick()
        return
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    scheduler.run(interval, stop)


def scan_config(
    scope: str,
    resolvers: tuple[str, ...],
    port: int,
    ca_file: Path | None,
    trust_anchor: Path | None,
) -> ScanConfig:
    """The configuration periodic scans run with (the same fields as `utsyn scan`)."""
    from utsyn.commands.scan import system_nameservers

    if scope not in ("internet", "lab"):
        raise ConfigError(f"--scope must be 'internet' or 'lab', not {scope!r}")
    resolvers = resolvers or system_nameservers()
    if not resolvers:
        raise ConfigError("no name server: pass --resolver IP")
    policy = ScopePolicy.lab() if scope == "lab" else ScopePolicy.internet()
    return ScanConfig(
        scope=policy,
        nameservers=resolvers,
        dns_port=port,
        ca_file=ca_file,
        trust_anchor_file=trust_anchor,
    )


main = typer.Typer(help="Utsyn's distributed workers and scheduler.", no_args_is_help=True)
main.command("worker")(worker_command)
main.command("scheduler")(scheduler_command)

if __name__ == "__main__":
    main()
