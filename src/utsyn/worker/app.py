"""The Celery application: `celery -A utsyn.worker.app worker` or `utsyn worker`.

Every choice here serves one rule: a task may run twice but its effect happens once, and a
task a worker took is never lost. Hence late acknowledgement (a task leaves the queue only
when done), re-queueing when a worker dies mid-task, one task prefetched at a time (a dying
worker strands at most what it runs) and a visibility timeout after which Redis hands an
unacknowledged task to another worker.
"""

from __future__ import annotations

import platform
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_init

from utsyn.settings import Settings, get_settings
from utsyn.worker.logs import configure_json_logging
from utsyn.worker.metrics import start_metrics_server
from utsyn.worker.queues import PERIODIC


def make_app(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    celery = Celery("utsyn", broker=settings.broker_url, include=["utsyn.worker.tasks"])
    celery.conf.update(
        task_default_queue=PERIODIC,  # queues are made on first use (task_create_missing_queues)
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,  # results live in the database, not in a result backend
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_transport_options={
            "visibility_timeout": settings.worker_visibility_timeout,
            # Redis is polled in the order the worker lists its queues, without rotation:
            # `-Q urgent,periodic` takes an urgent task whenever one is waiting.
            "queue_order_strategy": "priority",
        },
    )
    return celery


app = make_app()


def worker_argv(queues: str, concurrency: int | None, name: str | None, loglevel: str) -> list[str]:
    """`celery worker`'s arguments for `utsyn worker`."""
    # Threads, not forked children: a scan waits on the network, so one process keeps many
    # in flight, and its metrics live in the process that serves them.
    threads = concurrency or get_settings().worker_concurrency
    return [
        "worker",
        f"--queues={queues}",
        "--pool=threads",
        f"--concurrency={threads}",
        f"--loglevel={loglevel}",
        f"--hostname={name or f'worker-{threads}@{platform.node()}'}",
        "--without-gossip",  # workers need not know each other: the database coordinates
        "--without-mingle",
    ]


def _json_logging(**_: Any) -> None:
    configure_json_logging()


def _metrics_endpoint(**_: Any) -> None:
    start_metrics_server(get_settings().worker_metrics_port)


# Connected, `setup_logging` stops Celery configuring logging its own way.
setup_logging.connect(_json_logging)
worker_init.connect(_metrics_endpoint)
