"""A scan configuration survives the trip through a task's JSON arguments unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from utsyn.errors import ConfigError
from utsyn.scan.family import ScanConfig
from utsyn.scan.guard import ScopePolicy, Timeouts
from utsyn.worker.codec import config_from_json, config_to_json


@pytest.mark.parametrize(
    "config",
    [
        ScanConfig(
            scope=ScopePolicy.lab(),
            nameservers=("127.57.0.1",),
            dns_port=5353,
            ca_file=Path("/tmp/lab/ca.pem"),
            trust_anchor_file=Path("/tmp/lab/anchor.ds"),
            timeouts=Timeouts(connect=1.5, read=2.0, dns=0.5),
            host_deadline=20.0,
            ports=(25, 443),
        ),
        ScanConfig(
            scope=ScopePolicy.internet(["192.0.2.0/24", "2001:db8::/48"], ["optout.example"]),
            nameservers=("9.9.9.9", "149.112.112.112"),
        ),
    ],
)
def test_a_config_round_trips_through_json(config: ScanConfig) -> None:
    assert config_from_json(json.loads(json.dumps(config_to_json(config)))) == config


def test_a_malformed_document_is_a_config_error() -> None:
    document = config_to_json(ScanConfig(scope=ScopePolicy.lab(), nameservers=("127.0.0.1",)))
    document["scope"]["mode"] = "everywhere"
    with pytest.raises(ConfigError, match="scan configuration"):
        config_from_json(document)
