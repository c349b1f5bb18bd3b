"""The Celery tasks: thin wrappers that add retries, metrics and logs to `worker.work`.

Arguments are plain JSON (the configuration travels as `codec.config_to_json`). A task that
dies with its worker is delivered again (late acknowledgement); one that meets a lost
database connection retries its unit of work in place, then as a whole with back-off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, Literal, cast

import redis
from celery import Task
from sqlalchemy.exc import DBAPIError

from utsyn.settings import get_settings
from utsyn.worker import metrics, work
from utsyn.worker.app import app
from utsyn.worker.codec import config_from_json
from utsyn.worker.feeds import update_and_check
from utsyn.worker.queues import PERIODIC
from utsyn.worker.ratelimit import RateLimited, TargetRateLimit
from utsyn.worker.runs import RATE_ORG, REFRESH_FEEDS, SCAN_TARGET

log = logging.getLogger("utsyn.worker.tasks")

# Retried as a whole after the in-place retries gave up: the database stayed away too long.
RETRY_OPTIONS: dict[str, Any] = {
    "autoretry_for": (DBAPIError,),
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": 8,
}


@cache
def _limiter() -> TargetRateLimit:
    settings = get_settings()
    client = redis.Redis.from_url(settings.broker_url, socket_timeout=5)
    return TargetRateLimit(client, settings.target_rate_per_minute, settings.target_burst)


def _queue(task: Task) -> str:
    info = task.request.delivery_info or {}
    return str(info.get("routing_key") or PERIODIC)


@contextmanager
def _counted_failures(name: str) -> Iterator[None]:
    try:
        yield
    except RateLimited:
        metrics.FAILURES.labels(name, "rate_limited").inc()
        raise
    except Exception as exc:
        metrics.FAILURES.labels(name, type(exc).__name__).inc()
        raise


def scan_target(
    self: Task,
    run_id: int,
    org: str,
    kind: str,
    name: str,
    config_json: dict[str, Any],
    expected: int,
) -> None:
    """Scan one zone or host of a run and store it; queue the rating when the org is done."""
    queue = _queue(self)
    job = work.TargetJob(run_id, org, cast(Literal["domain", "host"], kind), name, expected)
    began = time.perf_counter()
    try:
        with _counted_failures("scan_target"):
            done = work.scan_target(
                job, config_from_json(config_json), _limiter_or_none(), 30.0,
                get_settings().worker_test_delay,
            )  # fmt: skip
    except RateLimited as exc:
        raise self.retry(exc=exc, countdown=exc.retry_in, queue=queue) from exc
    _record(job, done, queue, time.perf_counter() - began)
    if done.org_complete:
        app.send_task(RATE_ORG, args=[run_id, org], queue=queue)


def _limiter_or_none() -> TargetRateLimit | None:
    """The shared limiter, or none while Redis is unreachable (the scan is not lost for it)."""
    try:
        limiter = _limiter()
        limiter.client.ping()
    except redis.RedisError as exc:
        metrics.FAILURES.labels("scan_target", "rate_limit_unavailable").inc()
        log.warning("rate limit unavailable; scanning without", extra={"reason": str(exc)})
        return None
    return limiter


def _record(job: work.TargetJob, done: work.TargetDone, queue: str, seconds: float) -> None:
    context = {"task": "scan_target", "run": job.run_id, "org": job.org, "target": job.name,
               "kind": job.kind, "queue": queue, "duration": seconds}  # fmt: skip
    if done.result is None:
        log.info("target already stored (re-delivery)", extra=context)
        return
    metrics.SCANS.labels(job.kind, queue).inc()
    metrics.SCAN_SECONDS.observe(done.result.seconds)
    log.info(f"target stored ({len(done.result.observations)} observations)", extra=context)


def rate_org(run_id: int, org: str) -> None:
    """Rate one organisation from what the run stored; finish the run after its last one."""
    began = time.perf_counter()
    with _counted_failures("rate_org"):
        finished = work.rate_org(run_id, org)
    metrics.RATINGS.inc()
    context = {"task": "rate_org", "run": run_id, "org": org,
               "duration": time.perf_counter() - began}  # fmt: skip
    if finished:
        log.info("scan run finished", extra=context)


def refresh_feeds() -> dict[str, Any]:
    """The daily feed task: update the vulnerability feeds, record how old they are."""
    status = update_and_check()
    metrics.SNAPSHOT_AGE.set(status.age_days)
    log.info(status.message, extra={"task": "refresh_feeds"})
    return status.to_json()


# Registered by name: producers send by name (`runs.send_work`), so they need not import
# this module, and a worker imports it through the app's `include`.
scan_target_task: Any = app.task(bind=True, name=SCAN_TARGET, **RETRY_OPTIONS)(scan_target)
rate_org_task: Any = app.task(name=RATE_ORG, **RETRY_OPTIONS)(rate_org)
refresh_feeds_task: Any = app.task(name=REFRESH_FEEDS)(refresh_feeds)
