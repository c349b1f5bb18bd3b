"""`utsyn worker` and `utsyn scheduler`: the distributed scans' two processes."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from utsyn.cli.options import ResolverPortOpt, scan_config
from utsyn.worker.logs import configure_json_logging


def worker(
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
    # Lazy (start-up): celery costs ~230 ms CPU.
    from utsyn.worker.app import app, worker_argv

    app.worker_main(worker_argv(queues, concurrency, name, loglevel))


def scheduler(
    scope: Annotated[str, typer.Option(help="'internet', or 'lab' for the lab.")] = "internet",
    resolver: Annotated[
        list[str] | None, typer.Option(help="Name server (repeat); default: the system's.")
    ] = None,
    resolver_port: ResolverPortOpt = 53,
    ca_file: Annotated[Path | None, typer.Option(help="Extra trusted CA (the lab's).")] = None,
    trust_anchor: Annotated[Path | None, typer.Option(help="DNSSEC trust anchor file.")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between ticks.")] = 60.0,
    once: Annotated[bool, typer.Option(help="One tick, then exit (for cron).")] = False,
    periodic: Annotated[
        bool, typer.Option(help="Plan periodic rescans (off: only reconcile and feeds).")
    ] = True,
) -> None:
    """Plan periodic rescans, the daily feed task, and re-send work the broker lost."""
    # Lazy (start-up): celery, the scheduler and the store cost ~900 ms CPU.
    from utsyn.settings import get_settings
    from utsyn.worker.app import app
    from utsyn.worker.scheduler import Scheduler, migrate

    configure_json_logging()
    settings = get_settings()
    config = scan_config(scope, tuple(resolver or ()), resolver_port, ca_file, trust_anchor)
    migrate(settings)
    runner = Scheduler(app, config, settings, periodic=periodic)
    if once:
        runner.tick()
        return
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    runner.run(interval, stop)
