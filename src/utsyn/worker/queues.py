"""The broker's queues, by urgency (imported by the app, the scheduler and the metrics)."""

from __future__ import annotations

URGENT = "urgent"  # scans a user asked for: consumed before the periodic queue
PERIODIC = "periodic"  # the scheduler's rescans and the daily feed check
QUEUES = (URGENT, PERIODIC)
