"""`ScanConfig` as plain JSON, so that a task carries the whole configuration of its scan."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from utsyn.errors import ConfigError
from utsyn.scan.family import ScanConfig
from utsyn.scan.guard import ScopePolicy, Timeouts


def config_to_json(config: ScanConfig) -> dict[str, Any]:
    scope = config.scope
    return {
        "scope": {
            "mode": scope.mode,
            "opt_out_networks": [str(n) for n in scope.opt_out_networks],
            "opt_out_domains": list(scope.opt_out_domains),
        },
        "nameservers": list(config.nameservers),
        "dns_port": config.dns_port,
        "ca_file": _path_text(config.ca_file),
        "trust_anchor_file": _path_text(config.trust_anchor_file),
        "timeouts": {
            "connect": config.timeouts.connect,
            "read": config.timeouts.read,
            "dns": config.timeouts.dns,
        },
        "max_connections": config.max_connections,
        "per_host": config.per_host,
        "hosts_in_flight": config.hosts_in_flight,
        "host_deadline": config.host_deadline,
        "retries": config.retries,
        "ports": list(config.ports),
        "user_agent": config.user_agent,
    }


def config_from_json(data: dict[str, Any]) -> ScanConfig:
    """The inverse of `config_to_json`; a malformed document is a ConfigError."""
    try:
        return ScanConfig(
            scope=_scope(data["scope"]),
            nameservers=tuple(str(n) for n in data["nameservers"]),
            dns_port=int(data["dns_port"]),
            ca_file=_path(data["ca_file"]),
            trust_anchor_file=_path(data["trust_anchor_file"]),
            timeouts=Timeouts(**{k: float(v) for k, v in data["timeouts"].items()}),
            max_connections=int(data["max_connections"]),
            per_host=int(data["per_host"]),
            hosts_in_flight=int(data["hosts_in_flight"]),
            host_deadline=float(data["host_deadline"]),
            retries=int(data["retries"]),
            ports=tuple(int(p) for p in data["ports"]),
            user_agent=str(data["user_agent"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError("not a scan configuration document: %(reason)s", reason=exc) from exc


def _scope(data: dict[str, Any]) -> ScopePolicy:
    mode = data["mode"]
    if mode not in ("internet", "lab"):
        raise ValueError(f"unknown scope mode {mode!r}")
    networks = tuple(ipaddress.ip_network(n, strict=False) for n in data["opt_out_networks"])
    return ScopePolicy(mode, networks, tuple(str(d) for d in data["opt_out_domains"]))


def _path_text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def _path(text: object) -> Path | None:
    return None if text is None else Path(str(text))
