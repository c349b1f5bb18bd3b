"""The per-target token bucket on real Redis, shared by two clients as by two workers."""

from __future__ import annotations

import time

import pytest
import redis

from utsyn.worker.ratelimit import RateLimited, TargetRateLimit

pytestmark = pytest.mark.services


def _limiter(url: str, per_minute: float, burst: int) -> TargetRateLimit:
    return TargetRateLimit(redis.Redis.from_url(url), per_minute, burst)


def test_two_workers_share_one_bucket_per_target(redis_url: str) -> None:
    worker_a = _limiter(redis_url, per_minute=120, burst=2)  # 2 a second after a burst of 2
    worker_b = _limiter(redis_url, per_minute=120, burst=2)
    assert worker_a.try_take("www.fjordvik.test") == 0
    assert worker_b.try_take("WWW.fjordvik.test") == 0  # names are case-insensitive
    wait = worker_a.try_take("www.fjordvik.test")
    assert 0.3 < wait <= 0.5
    assert worker_b.try_take("post.fjordvik.test") == 0  # another target, another bucket


def test_acquire_waits_for_the_next_token(redis_url: str) -> None:
    limiter = _limiter(redis_url, per_minute=240, burst=1)  # one every 0.25 s
    began = time.monotonic()
    for _ in range(3):
        limiter.acquire("www.fjordvik.test", max_wait=5)
    assert 0.45 < time.monotonic() - began < 2.0


def test_a_wait_beyond_the_limit_is_handed_back_as_a_retry(redis_url: str) -> None:
    limiter = _limiter(redis_url, per_minute=6, burst=1)  # one every 10 s
    limiter.acquire("www.fjordvik.test", max_wait=1)
    with pytest.raises(RateLimited) as raised:
        limiter.acquire("www.fjordvik.test", max_wait=1)
    assert 9 < raised.value.retry_in <= 10
