"""JSON log lines carry the task's context; the metrics endpoint serves counters and the
queue depth Redis reports."""

from __future__ import annotations

import io
import json
import logging
import socket

import httpx
import pytest
import redis

from utsyn.worker import metrics
from utsyn.worker.logs import JsonFormatter, configure_json_logging


def test_a_log_line_is_one_json_object_with_the_task_context() -> None:
    stream = io.StringIO()
    configure_json_logging(stream=stream)
    try:
        logging.getLogger("utsyn.worker.tasks").info(
            "target stored",
            extra={"task": "scan_target", "org": "974760673", "target": "www.x.test",
                   "duration": 1.23456},
        )  # fmt: skip
    finally:
        logging.getLogger().handlers[:] = []
    (line,) = stream.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "info" and entry["message"] == "target stored"
    assert (entry["task"], entry["org"], entry["target"]) == (
        "scan_target", "974760673", "www.x.test",
    )  # fmt: skip
    assert entry["duration"] == 1.235 and entry["time"].endswith("+00:00")


def test_an_exception_is_kept_inside_the_json_line() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in entry["error"]


@pytest.mark.services
def test_the_endpoint_serves_scans_and_the_queue_depth(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.rpush("urgent", "a", "b", "c")
    depth = metrics.QueueDepth(lambda: redis_url)
    samples = {s.labels["queue"]: s.value for f in depth.collect() for s in f.samples}
    assert samples == {"urgent": 3, "periodic": 0}

    metrics.SCANS.labels("host", "urgent").inc()
    port = _free_port()
    assert metrics.start_metrics_server(port)
    assert not metrics.start_metrics_server(port)  # a second worker on the machine runs on
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert 'utsyn_worker_scans_total{kind="host",queue="urgent"}' in text
    assert "utsyn_worker_scan_seconds_bucket" in text
    assert "utsyn_queue_depth" in text


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
