"""Scanning the demo lab: one scan per session per set of families, compared with the truth."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from utsyn.lab.expected import expected_observations
from utsyn.lab.runtime import LabInfo
from utsyn.lab.scenarios import load_scenario
from utsyn.lab.targets import from_manifest
from utsyn.scan.engine import Scanner
from utsyn.scan.family import CheckFamily, ScanConfig
from utsyn.scan.guard import ScopePolicy
from utsyn.scan.model import Observation, TargetResult


def lab_config(lab: LabInfo, **overrides: Any) -> ScanConfig:
    return ScanConfig(
        scope=ScopePolicy.lab(),
        nameservers=(lab.dns_ip,),
        dns_port=lab.dns_port,
        ca_file=lab.ca_file,
        trust_anchor_file=lab.trust_anchor_file,
        **overrides,
    )


def scan_demo(lab: LabInfo, families: Iterable[CheckFamily] | None = None) -> list[TargetResult]:
    """Scan every organisation of the demo scenario (all families unless told otherwise)."""
    scanner = Scanner(lab_config(lab), families)
    footprints = from_manifest(load_scenario("demo"))

    async def collect() -> list[TargetResult]:
        return [result async for result in scanner.scan(footprints)]

    return asyncio.run(collect())


def observed(results: Iterable[TargetResult]) -> dict[tuple[str, str], Observation]:
    return {(o.target, o.check): o for r in results for o in r.observations}


def mismatches(results: Iterable[TargetResult], prefix: str) -> list[str]:
    """Every ground-truth fact whose check starts with `prefix` that the scan got wrong."""
    seen = observed(results)
    wrong = []
    for fact in expected_observations(load_scenario("demo")):
        if not fact.check.startswith(prefix):
            continue
        got = seen.get((fact.target, fact.check))
        if got is None:
            wrong.append(f"{fact.target} {fact.check}: expected {fact.value!r}, not observed")
        elif got.value != fact.value:
            detail = f" (error: {got.error})" if got.error else ""
            wrong.append(
                f"{fact.target} {fact.check}: expected {fact.value!r}, got {got.value!r}{detail}"
            )
    return wrong
