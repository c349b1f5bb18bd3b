"""Benchmark: search NIST CSF 2.0 in bokmål and English (`utsyn.frameworks.search`).

Every glossary term, in English and in bokmål, is a query (plus ids and two-word queries);
each runs `--rounds` times. Prints the index's build time and p50 / p95 / max per query, for
the search alone and for the whole /csf/sok page (FastAPI's TestClient: routing, search,
rendering the template) on a throw-away SQLite database.

    .venv/bin/python -m benchmarks.csf_search [--rounds 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from utsyn.frameworks.glossary import glossary
from utsyn.frameworks.library import load_framework
from utsyn.frameworks.search import Index
from utsyn.store.db import make_engine, upgrade
from utsyn.web.app import create_app
from utsyn.web.settings import WebSettings


def queries() -> list[str]:
    terms = glossary().terms
    found = [t.en for t in terms] + [t.nb for t in terms]
    found += ["GV.OC-01", "PR.DS-11", "supply chain risk", "sikkerhetskopier testes", "kopi"]
    return found


def figures(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[int(len(ms) * 0.95) - 1]
    return f"p50 {statistics.median(ms):.3f} ms, p95 {p95:.3f} ms, max {ms[-1]:.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    started = time.perf_counter()
    framework = load_framework()
    loaded = time.perf_counter()
    index = Index(framework)
    built = time.perf_counter()
    print(
        f"library load {1000 * (loaded - started):.1f} ms, index build "
        f"{1000 * (built - loaded):.1f} ms"
    )
    asked = queries()
    search_times, hits = [], 0
    for _ in range(args.rounds):
        for query in asked:
            before = time.perf_counter()
            hits += len(index.search(query))
            search_times.append(time.perf_counter() - before)
    print(f"search alone, {len(search_times)} queries ({hits} hits): {figures(search_times)}")
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        upgrade(url)
        settings = WebSettings(
            data_dir=Path(folder), cache_dir=Path(folder), secret_key="bench-secret-" * 4
        )
        client = TestClient(create_app(settings, make_engine(url)), base_url="https://testserver")
        page_times = []
        for _ in range(max(1, args.rounds // 4)):
            for query in asked:
                before = time.perf_counter()
                answer = client.get("/csf/sok", params={"q": query, "lang": "nb"})
                page_times.append(time.perf_counter() - before)
                assert answer.status_code == 200
        print(f"/csf/sok page, {len(page_times)} requests: {figures(page_times)}")


if __name__ == "__main__":
    main()
