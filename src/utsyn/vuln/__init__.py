"""Vulnerability intelligence: feeds loaded into one model, matched against observed
products with explicit confidence. Pure and database-free; see `index.load_snapshot`."""

from utsyn.vuln.index import VulnIndex, build_index, load_snapshot
from utsyn.vuln.match import Confidence, Evidence, Match, ObservedProduct, match
from utsyn.vuln.model import AffectedRange, CvssScore, Feed, Provenance, Vulnerability

__all__ = [
    "AffectedRange",
    "Confidence",
    "CvssScore",
    "Evidence",
    "Feed",
    "Match",
    "ObservedProduct",
    "Provenance",
    "VulnIndex",
    "Vulnerability",
    "build_index",
    "load_snapshot",
    "match",
]
