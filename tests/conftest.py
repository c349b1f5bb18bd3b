from __future__ import annotations

from collections.abc import Iterator

import pytest

from utsyn.testing.egress import egress_guard


@pytest.fixture(autouse=True)
def _no_egress() -> Iterator[None]:
    """No test may send traffic beyond loopback (127.0.0.0/8 and ::1)."""
    with egress_guard():
        yield
