"""`make demo` leaves every page with something to show, made by the real machinery: two
scans a week apart (a trend of two days, a grade drop), a feed update (a KEV alert), a
dispute, an explanation, a portfolio, a custom scorecard; and "verify now" works against
the lab's name server.

The demo runs once for the module, on lab addresses of its own (127.54.0.1:53, hosts on
127.60.x.y), so it can run beside the session's demo lab.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import select

from utsyn.cli import demo_history as history
from utsyn.cli.demo import LabPlace, run_demo
from utsyn.cli.output import words
from utsyn.lab.runtime import running_lab
from utsyn.lab.scenarios import load_scenario
from utsyn.settings import get_settings
from utsyn.store.db import open_session
from utsyn.store.models import Alert, Asset, Organisation
from utsyn.vuln.alerts import KIND_GRADE, KIND_KEV
from utsyn.web.app import create_app
from utsyn.web.demo import DEMO_EMAIL, ensure_demo_user
from utsyn.web.settings import WebSettings

from .conftest import csrf_of, log_in

# The demo's set-up (two scans, a feed update) runs the real demo: minutes on a loaded machine.
pytestmark = pytest.mark.timeout(900)

PLACE = LabPlace(dns_ip="127.54.0.1", dns_port=53, first_octet=60)


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data = tmp_path_factory.mktemp("demo-alive") / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("UTSYN_DATA_DIR", str(data))
        patch.delenv("UTSYN_DATABASE_URL", raising=False)
        get_settings.cache_clear()
        out = Console(file=io.StringIO(), width=200)
        run_demo(out, Console(file=io.StringIO()), True, 0, words("nb"), PLACE)
        printed = out.file.getvalue()  # type: ignore[attr-defined]
        assert "En ukes historikk" in printed
        assert re.search(r"Gjennomsnittlig score \d+,\d\.", printed)  # bokmål's decimal comma
        yield data
    get_settings.cache_clear()


@pytest.fixture
def web(demo_data: Path) -> Iterator[TestClient]:
    settings = WebSettings(
        data_dir=demo_data,
        secret_key="test-secret-" * 4,
        dns_servers=(PLACE.dns_ip,),
        dns_port=PLACE.dns_port,
    )
    with TestClient(create_app(settings), base_url="https://testserver") as client:
        password, _ = ensure_demo_user()
        log_in(client, DEMO_EMAIL, password)
        yield client


def test_the_history_is_made_by_the_alert_machinery(demo_data: Path) -> None:
    with open_session() as session:
        alerts = session.scalars(select(Alert)).all()
        orgs = {o.id: o.orgnr for o in session.scalars(select(Organisation))}
    keys = {(a.kind, orgs[a.org_id]) for a in alerts}
    assert (KIND_GRADE, history.CHANGED_ORG) in keys  # worse this week than the last
    assert (KIND_KEV, "313258270") in keys  # Holmvik's httpd 2.4.49, CVE-2024-38475
    kev = next(a for a in alerts if a.kind == KIND_KEV)
    assert kev.payload["cve"]["id"] == history.REPLAYED_KEV


def test_every_page_has_content(web: TestClient) -> None:
    alerts = web.get("/varsler")
    assert alerts.status_code == 200 and 'id="no-alerts"' not in alerts.text
    assert history.REPLAYED_KEV in alerts.text
    disputes = web.get("/tvister")
    assert disputes.status_code == 200 and 'class="finding dispute ' in disputes.text
    assert "honeypot" in disputes.text
    portfolios = web.get("/portefoljer")
    assert "Demo: utvalgte virksomheter" in portfolios.text
    assert "Du har ingen portefølje ennå" not in portfolios.text
    explained = web.get(f"/org/{history.EXPLAINED_ORG}")
    assert "Replaced with the new platform" in explained.text
    orgnr, _domain = history.SCORECARD
    assert "Reiseliv" in web.get(f"/org/{orgnr}").text
    national = web.get("/nasjonalt")
    days = re.findall(r"<tr><th scope=\"row\">(\d{4}-\d\d-\d\d)</th>", national.text)
    assert len(set(days)) == 2  # a week apart


def test_the_token_is_shown_and_verify_now_works(web: TestClient, tmp_path: Path) -> None:
    """As `make demo` serves it: the lab behind the dashboard, its name server configured."""
    where = (PLACE.dns_ip, PLACE.dns_port, PLACE.first_octet)
    cache = get_settings().cache_dir
    with running_lab(load_scenario("demo"), tmp_path, cache, *where):
        _verify_now(web)


def _verify_now(web: TestClient) -> None:
    orgnr = history.LEFT_TO_VERIFY
    domain = next(
        d.name for o in load_scenario("demo").organisations if o.orgnr == orgnr for d in o.domains
    )
    page = web.get(f"/org/{orgnr}/fotavtrykk")
    assert f"_utsyn-verify.{domain}" in page.text  # before any check
    with open_session() as session:
        org = session.scalars(select(Organisation).where(Organisation.orgnr == orgnr)).one()
        asset = session.scalars(
            select(Asset).where(Asset.org_id == org.id, Asset.value == domain)
        ).one()
        assert asset.state == "claimed"
    answer = web.post(
        f"/org/{orgnr}/fotavtrykk/{asset.id}/verify",
        data={"csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and "done=verified" in answer.headers["location"]
    with open_session() as session:
        assert session.get(Asset, asset.id).state == "verified"  # type: ignore[union-attr]


def test_the_earlier_lab_lacks_the_new_host() -> None:
    manifest = load_scenario("demo")
    before = history.earlier(manifest)
    hosts = {h.name for o in before.organisations for h in o.hosts}
    assert history.NEW_HOST not in hosts
    assert len(hosts) == sum(len(o.hosts) for o in manifest.organisations) - 1
