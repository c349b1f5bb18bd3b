"""A lab scenario's organisations as the scanner's footprints (the lab's side of `scan.targets`)."""

from __future__ import annotations

from utsyn.lab.manifest import Manifest
from utsyn.scan.model import Footprint


def from_manifest(manifest: Manifest) -> list[Footprint]:
    """Each organisation's zones and host names, as its footprint."""
    return [
        Footprint(
            org=org.orgnr,
            domains=tuple(d.name for d in org.domains),
            hostnames=tuple(h.name for h in org.hosts),
            primary=org.primary_domain,
        )
        for org in manifest.organisations
    ]
