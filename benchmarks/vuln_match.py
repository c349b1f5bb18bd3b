"""Benchmark: match 100,000 product observations against the whole offline snapshot.

Observations are drawn (seeded) from the products and versions the feeds themselves name:
every exact version and every range bound in the index, OpenSSH versions with a portable
`p1`, and one in five flagged as a distribution package. Prints load time, match time,
throughput, the Python heap the index takes (tracemalloc) and the process's peak RSS.

    .venv/bin/python benchmarks/vuln_match.py [--count 100000] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
import tracemalloc

from utsyn.vuln.index import VulnIndex, load_folder, snapshot_dir
from utsyn.vuln.match import Confidence, ObservedProduct, match


def observed_versions(index: VulnIndex) -> list[tuple[str, str]]:
    """(product key, version) for every version string the index's ranges name."""
    seen: set[tuple[str, str]] = set()
    entries = [e for spans in index.spans.values() for e in spans]
    entries += [e for table in index.exact.values() for found in table.values() for e in found]
    for entry in entries:
        affected = entry.range
        for text in (affected.exact, affected.start, affected.end):
            if text and text not in ("-", "*"):
                suffix = "p1" if affected.product == "openbsd:openssh" else ""
                seen.add((affected.product, text + suffix))
    return sorted(seen)


def observations(index: VulnIndex, count: int, seed: int) -> list[ObservedProduct]:
    rng = random.Random(seed)
    pool = observed_versions(index)
    out = []
    for key, version in rng.choices(pool, k=count):
        vendor, product = key.split(":", 1)
        out.append(
            ObservedProduct(product, version, vendor=vendor, distro_patched=rng.random() < 0.2)
        )
    return out


def reference_ns() -> float:
    """Nanoseconds per iteration of a fixed pure-Python loop: figures from a busy or slow
    machine can be scaled by it."""
    started = time.perf_counter()
    total = 0
    for i in range(1_000_000):
        total += i & 7
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    tracemalloc.start()
    started = time.perf_counter()
    index = load_folder(snapshot_dir())
    load_seconds = time.perf_counter() - started
    index_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()

    batch = observations(index, args.count, args.seed)
    started = time.perf_counter()
    results = [match(o, index) for o in batch]
    match_seconds = time.perf_counter() - started

    total = sum(len(r) for r in results)
    confirmed = sum(m.confidence is Confidence.CONFIRMED for r in results for m in r)
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"products indexed:     {len(index.products)}")
    print(f"distinct versions:    {len(observed_versions(index))}")
    print(f"snapshot load:        {load_seconds:.2f} s, index heap {index_bytes / 2**20:.1f} MiB")
    print(f"observations matched: {len(batch)} in {match_seconds:.2f} s")
    print(f"throughput:           {len(batch) / match_seconds:,.0f} observations/s")
    print(f"matches:              {total} ({confirmed} confirmed, {total - confirmed} potential)")
    print(f"peak RSS:             {peak_rss_mib:.0f} MiB")
    print(f"reference loop:       {reference_ns():.0f} ns/iteration, load {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
