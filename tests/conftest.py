from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from utsyn.lab.runtime import LabInfo, read_state, running_lab
from utsyn.lab.scenarios import load_scenario
from utsyn.settings import get_settings
from utsyn.testing.egress import egress_guard


@pytest.fixture(autouse=True)
def _no_egress() -> Iterator[None]:
    """No test may send traffic beyond loopback (127.0.0.0/8 and ::1)."""
    with egress_guard():
        yield


@pytest.fixture(scope="session")
def demo_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabInfo]:
    """The demo scenario, served for the whole session on 127.20.x.y and 127.53.0.1:53.

    With UTSYN_TEST_LAB=reuse, a demo lab already running (`utsyn lab up --detach`) is used
    instead: several test runs on one machine can then share the lab's fixed addresses.
    """
    if os.environ.get("UTSYN_TEST_LAB") == "reuse":
        found = read_state(get_settings().data_dir / "lab" / "lab.json")
        if found is not None and found[1].scenario == "demo":
            yield found[1]
            return
    state_dir = tmp_path_factory.mktemp("demo-lab")
    manifest = load_scenario("demo")
    with egress_guard(), running_lab(manifest, state_dir, get_settings().cache_dir) as info:
        yield info
