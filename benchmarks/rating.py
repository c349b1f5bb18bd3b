"""The rating model's own speed: `rating.model.rate` on synthetic organisations, one core.

    python -m benchmarks.rating [--orgs 20000]

Each organisation has five web hosts and 16 distinct rules drawn from the rulebook (as in
`portfolio.synthetic`), a third of them found on two hosts; the rated assets are the hosts
under three of the rules' factors. Prints organisations per second (best of three runs):
what a national re-rating costs before a single row is written (`store.rescore` writes).
"""

from __future__ import annotations

import argparse
import random
import time

from utsyn.rating.model import rate
from utsyn.rules.model import Assessment, Asset, Finding
from utsyn.rules.rulebook import load_rulebook

BOOK = load_rulebook()
HOSTS = 5
RULES = 16


def organisations(count: int, seed: int = 1) -> list[Assessment]:
    rng = random.Random(seed)
    made = []
    for i in range(count):
        hosts = [f"h{j}.org{i}.test:443" for j in range(HOSTS)]
        chosen = rng.sample(BOOK.rules, RULES)
        assets = tuple(Asset(h, r.factor) for h in hosts for r in chosen[:3])
        findings = tuple(
            Finding(r.id, host)
            for r in chosen
            for host in rng.sample(hosts, 2 if rng.random() < 1 / 3 else 1)
        )
        made.append(Assessment(f"org{i}", assets, findings))
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orgs", type=int, default=20_000)
    args = parser.parse_args()
    assessed = organisations(args.orgs)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for assessment in assessed:
            rate(assessment, BOOK)
        best = min(best, time.perf_counter() - started)
    print(
        f"rate(): {args.orgs / best:,.0f} organisations/s on one core "
        f"({best / args.orgs * 1e6:.0f} µs each; 1M organisations ≈ {1e6 * best / args.orgs:.0f} s)"
    )


if __name__ == "__main__":
    main()
