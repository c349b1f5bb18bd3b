"""The scan's JSON output (described by `scan-output.schema.json`); the command line prints
its text summary (`utsyn.cli.scan`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from utsyn import __version__
from utsyn.scan.model import Footprint, Observation, TargetResult, now_iso

SCHEMA_VERSION = 1


def report_json(
    results: Iterable[TargetResult],
    started: str,
    scope: str,
    stats: dict[str, int],
    footprints: Iterable[Footprint] = (),
) -> dict[str, Any]:
    ordered = sorted(results, key=lambda r: (r.org, r.kind, r.target))
    return {
        "schema": SCHEMA_VERSION,
        "utsyn": __version__,
        "scope": scope,
        "started": started,
        "finished": now_iso(),
        "stats": stats,
        "footprints": [
            {
                "org": f.org,
                "domains": list(f.domains),
                "hostnames": list(f.hostnames),
                "primary": f.primary_domain,
            }
            for f in footprints
        ],
        "results": [r.to_json() for r in ordered],
    }


def read_report(data: dict[str, Any]) -> tuple[list[Footprint], list[TargetResult]]:
    """The footprints and results of a report written by `report_json`."""
    footprints = [
        Footprint(f["org"], tuple(f["domains"]), tuple(f["hostnames"]), primary=f.get("primary"))
        for f in data.get("footprints", [])
    ]
    results = [
        TargetResult(
            r["org"],
            r["target"],
            r["kind"],
            tuple(Observation.from_json(o) for o in r["observations"]),
            float(r.get("seconds", 0.0)),
            str(r.get("via", "")),
        )
        for r in data["results"]
    ]
    return footprints, results
