"""The scan's JSON output (described by `scan-output.schema.json`) and its text summary."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

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


_HIGHLIGHTS = (
    "dns.zone",
    "service.kind",
    "tls.cert.status",
    "http.status",
    "dns.spf",
    "dns.dmarc",
)


def _scanned_as(result: TargetResult) -> str:
    if result.via.startswith("mx:"):
        return f"mail exchanger of {result.via[3:]}"
    if result.kind == "host":
        return "host"
    zone = next((o.value for o in result.observations if o.check == "dns.zone"), None)
    return "zone" if zone in (None, result.target) else f"name in zone {zone}"


def print_summary(console: Console, results: list[TargetResult]) -> None:
    """One table per organisation: each zone and host, what answered and what failed."""
    for org in sorted({r.org for r in results}):
        table = Table(title=f"Organisation {escape(org)}", show_lines=False)
        for column in ("target", "scanned as", "observations", "errors", "highlights"):
            table.add_column(column)
        for result in sorted((r for r in results if r.org == org), key=lambda r: r.target):
            errors = [o for o in result.observations if o.error]
            lights = sorted(
                f"{o.target.split(':')[-1] if ':' in o.target else ''} {o.check}={o.value}".strip()
                for o in result.observations
                if o.check in _HIGHLIGHTS and o.value is not None
            )
            table.add_row(
                escape(result.target),
                escape(_scanned_as(result)),
                str(len(result.observations)),
                str(len(errors)),
                escape("\n".join(lights[:8])),
            )
        console.print(table)
