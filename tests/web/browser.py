"""Browser-test helpers: the fixtures live in conftest.py (`base_url`, `browser`, `page`).

The app is served by uvicorn on loopback (127.119.0.1) in a thread, on a copy of the demo
database; Debian's chromium is driven through Playwright. Without /usr/bin/chromium the
tests skip, or fail when UTSYN_REQUIRE_SERVICES is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from utsyn.store.db import make_engine
from utsyn.web.app import create_app
from utsyn.web.settings import WebSettings

from .served import serving

CHROMIUM = Path("/usr/bin/chromium")
HOST = "127.119.0.1"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


@contextmanager
def served(database: Path) -> Iterator[str]:
    """The app on the SQLite file `database`, served by uvicorn on loopback in a thread."""
    folder = database.parent
    engine = make_engine(f"sqlite:///{database}")
    settings = WebSettings(
        data_dir=folder / "data", cache_dir=folder / "cache", secret_key="browser-test-" * 4
    )
    try:
        with serving(create_app(settings, engine), HOST) as base_url:
            yield base_url
    finally:
        engine.dispose()


def log_in_page(page: Any, email: str, then: str = "/oversikt") -> None:
    """Log in through the form, landing on `then`."""
    from .conftest import PASSWORD  # conftest imports this module

    page.goto(f"/login?next={then}")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state()


def accessible(page: Any, name: str, full_page: bool = True) -> None:
    """axe-core finds nothing serious or critical; the page is kept as a screenshot (of the
    window only, `full_page` False, where the whole page is too tall to draw in time)."""
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=full_page)
    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, results.generate_report()


def number(text: str) -> float:
    """A number as the page shows it (decimal comma in bokmål)."""
    return float(text.strip().replace(",", "."))
