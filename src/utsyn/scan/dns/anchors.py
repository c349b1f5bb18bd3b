"""DNSSEC trust anchors: IANA's root anchors by default, or a file the operator names.

A validator trusts nothing it cannot chain to an anchor (RFC 4033 3.2). On the internet that
is the root zone's key-signing key; IANA publishes its digests in `root-anchors.xml`
(RFC 9718), shipped in `utsyn/data/dnssec/` with its provenance. A lab, or a resolver set up
with an island of its own, names another anchor in a zone-file-style file.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path

import dns.name
import dns.rrset

Name = dns.name.Name
RRset = dns.rrset.RRset

ROOT_ANCHORS_SOURCE = "https://data.iana.org/root-anchors/root-anchors.xml"
ANCHOR_TTL = 172800  # the root DNSKEY RRset's TTL; only the keys matter to a validator


@dataclass(frozen=True)
class TrustAnchor:
    owner: Name
    rrset: RRset  # DNSKEY (trusted keys) or DS (trusted digests of keys)


def parse_trust_anchors(text: str) -> list[TrustAnchor]:
    """Zone-file lines `owner [ttl] [IN] DNSKEY|DS rdata`; comments and blanks skipped."""
    grouped: dict[tuple[Name, str], RRset] = {}
    for line in text.splitlines():
        tokens = line.split(";", 1)[0].split()
        if not tokens:
            continue
        owner, rest = dns.name.from_text(tokens[0]), tokens[1:]
        ttl = int(rest.pop(0)) if rest and rest[0].isdigit() else 3600
        if rest and rest[0].upper() == "IN":
            rest.pop(0)
        if not rest or rest[0].upper() not in ("DNSKEY", "DS"):
            raise ValueError(f"not a DNSKEY or DS trust anchor: {line.strip()!r}")
        rdtype = rest[0].upper()
        rrset = dns.rrset.from_text(owner, ttl, "IN", rdtype, " ".join(rest[1:]))
        key = (owner, rdtype)
        if key in grouped:
            rrset = dns.rrset.from_rdata_list(owner, ttl, [*grouped[key], *rrset])
        grouped[key] = rrset
    return [TrustAnchor(owner, rrset) for (owner, _), rrset in grouped.items()]


def parse_root_anchors_xml(text: str, now: datetime) -> list[TrustAnchor]:
    """The DS records of IANA's `root-anchors.xml` that are valid at `now` (RFC 9718 2.2:
    a digest outside its validFrom/validUntil window is not to be trusted)."""
    root = ElementTree.fromstring(text)
    zone = dns.name.from_text(root.findtext("Zone", "."))
    lines = []
    for digest in root.iter("KeyDigest"):
        if not _in_window(digest.get("validFrom"), digest.get("validUntil"), now):
            continue
        fields = [digest.findtext(f, "").strip() for f in ("KeyTag", "Algorithm", "DigestType")]
        lines.append(" ".join([*fields, digest.findtext("Digest", "").strip()]))
    if not lines:
        raise ValueError("root-anchors.xml holds no key digest valid today")
    rrset = dns.rrset.from_text_list(zone, ANCHOR_TTL, "IN", "DS", lines)
    return [TrustAnchor(zone, rrset)]


def _in_window(valid_from: str | None, valid_until: str | None, now: datetime) -> bool:
    if valid_from is not None and now < datetime.fromisoformat(valid_from):
        return False
    return valid_until is None or now < datetime.fromisoformat(valid_until)


def root_anchors_xml() -> str:
    return files("utsyn.data").joinpath("dnssec", "root-anchors.xml").read_text("utf-8")


def load_anchors(path: Path | None) -> list[TrustAnchor]:
    """The anchors in `path`, or IANA's root anchors when no file is configured."""
    if path is None:
        return _root_anchors(datetime.now(UTC).date().isoformat())
    # Read on every use: a lab restarted with new keys must not meet yesterday's anchor.
    return _parsed(path.read_text(encoding="utf-8"))


@functools.cache
def _root_anchors(day: str) -> list[TrustAnchor]:
    midnight = datetime.fromisoformat(f"{day}T00:00:00+00:00")
    return parse_root_anchors_xml(root_anchors_xml(), midnight)


@functools.cache
def _parsed(text: str) -> list[TrustAnchor]:
    return parse_trust_anchors(text)
