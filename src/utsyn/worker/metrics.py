"""Prometheus metrics of the workers, served on 127.0.0.1:9808 by each worker process.

`utsyn_worker_scans_total` (rate() of it: scans per second), `utsyn_worker_failures_total`
by task and reason, `utsyn_worker_scan_seconds` (a histogram of one target's scan) and
`utsyn_queue_depth` (tasks waiting per queue, read from Redis at scrape time, so any process
that can reach the broker can serve it: `metrics_asgi_app` for the web service).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import redis
from prometheus_client import REGISTRY, Counter, Gauge, Histogram, make_asgi_app
from prometheus_client import start_http_server as _start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from utsyn.settings import get_settings
from utsyn.worker.queues import QUEUES

log = logging.getLogger("utsyn.worker.metrics")

SCANS = Counter(
    "utsyn_worker_scans", "Targets (zones and hosts) scanned and stored", ["kind", "queue"]
)
FAILURES = Counter("utsyn_worker_failures", "Task failures by reason", ["task", "reason"])
SCAN_SECONDS = Histogram(
    "utsyn_worker_scan_seconds",
    "Seconds to scan one target (without the wait for the rate limit)",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 60, 90, 120),
)
RATINGS = Counter("utsyn_worker_ratings", "Organisations rated after their targets completed")
SNAPSHOT_AGE = Gauge(
    "utsyn_vuln_snapshot_age_days", "Age of the newest feed in the vulnerability snapshot"
)


class QueueDepth(Collector):
    """Tasks waiting in each queue (Redis LLEN), read when Prometheus scrapes."""

    def __init__(self, broker_url: Callable[[], str]) -> None:
        self._broker_url = broker_url

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "utsyn_queue_depth", "Tasks waiting in the broker", labels=["queue"]
        )
        try:
            for queue, depth in queue_depths(self._broker_url()).items():
                family.add_metric([queue], depth)
        except redis.RedisError as exc:  # a scrape must not fail because the broker is down
            log.warning("queue depth unavailable", extra={"reason": str(exc)})
        yield family


def queue_depths(broker_url: str) -> dict[str, int]:
    client = redis.Redis.from_url(broker_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return {queue: int(client.llen(queue)) for queue in QUEUES}
    finally:
        client.close()


REGISTRY.register(QueueDepth(lambda: get_settings().broker_url))


def start_metrics_server(port: int, addr: str = "127.0.0.1") -> bool:
    """Serve /metrics on `addr:port` (0: not at all). False when the port is taken."""
    if port == 0:
        return False
    try:
        _start_http_server(port, addr=addr)
    except OSError as exc:  # a second worker on one machine: it runs on, unscraped
        log.warning("metrics endpoint not started", extra={"reason": f"{addr}:{port}: {exc}"})
        return False
    return True


def metrics_asgi_app() -> Callable[..., object]:
    """An ASGI app serving the same metrics: `app.mount("/metrics", metrics_asgi_app())`."""
    app: Callable[..., object] = make_asgi_app(REGISTRY)
    return app
