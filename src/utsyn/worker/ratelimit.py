"""A per-target rate limit every worker shares: a token bucket per target kept in Redis.

However many workers run, scans of one target start at most `per_minute` times a minute
(after a burst of `burst`). The bucket is refilled and taken in one Lua script on Redis's own
clock, so workers on machines with skewed clocks still agree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis

# KEYS[1] the bucket; ARGV[1] tokens per second, ARGV[2] burst.
# Returns 0 when a token was taken, else the milliseconds until one will be there.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1]) / 1000
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000)
return wait
"""

KEY_PREFIX = "utsyn:rate:"


class RateLimited(Exception):
    """No token within the wait allowed; `retry_in` seconds until there will be one."""

    def __init__(self, target: str, retry_in: float) -> None:
        super().__init__(f"rate limit for {target}: next scan in {retry_in:.1f} s")
        self.retry_in = retry_in


@dataclass
class TargetRateLimit:
    client: redis.Redis
    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError("a rate limit needs per_minute > 0 and burst >= 1")
        self._take: Any = self.client.register_script(_TAKE)

    def try_take(self, target: str) -> float:
        """Take a token for `target`: 0.0, or the seconds to wait for the next one."""
        key = KEY_PREFIX + target.lower()
        wait_ms = int(self._take(keys=[key], args=[self.per_minute / 60.0, self.burst]))
        return wait_ms / 1000.0

    def acquire(self, target: str, max_wait: float) -> float:
        """Wait (sleeping) for a token; returns the seconds waited, or raises RateLimited."""
        began = time.monotonic()
        while (wait := self.try_take(target)) > 0:
            waited = time.monotonic() - began
            if waited + wait > max_wait:
                raise RateLimited(target, wait)
            time.sleep(wait)
        return time.monotonic() - began
