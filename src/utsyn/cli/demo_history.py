"""The history `make demo` gives its database, so that every page has something to show.

Made the way production makes it, not by writing rows: a scan of the lab as it was a week
ago (the clock shifted back), a feed update that brings a KEV entry for software a lab
organisation runs, today's scan (one organisation has got worse since), then what users
do in a week: a dispute, an explanation, a portfolio and a custom scorecard.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from rich.console import Console
from sqlalchemy.orm import Session

from utsyn.cli.output import Words, progress_bar
from utsyn.clock import now_utc
from utsyn.lab.manifest import Manifest
from utsyn.lab.runtime import LabInfo
from utsyn.lab.targets import from_manifest
from utsyn.pipeline import scan_and_store
from utsyn.rating.lifecycle import ExplanationKind
from utsyn.scan.family import ScanConfig
from utsyn.scan.guard import ScopePolicy
from utsyn.settings import Settings
from utsyn.store import findings, portfolios, reads, scorecards
from utsyn.store.orgs import organisation
from utsyn.vuln.feeds import UpdateResult, update_feeds
from utsyn.vuln.index import snapshot_dir

WEEK = timedelta(days=7)
# Nasjonalt senter for geodata put its map portal up this week, with a certificate not yet
# valid: B (84.9) a week ago, C (78.3) now.
CHANGED_ORG = "314496728"
NEW_HOST = "kart.geosenter.test"
# Apache httpd's mod_rewrite flaw, which CISA added to KEV in 2025: Holmvik kommune runs
# httpd 2.4.49, so the update that adds it alerts.
REPLAYED_KEV = "CVE-2024-38475"
KEV_FILE = "kev/known_exploited_vulnerabilities.json"
DISPUTED_ORG = "314307909"  # Vikåsen kommune disputes a finding (pending review)
EXPLAINED_ORG = "316595669"  # Sørkyst fylkeskommune explains one (an accepted risk)
PORTFOLIO = ("318868131", "314496728", "313258270", "314307909", "316595669")
SCORECARD = ("318627126", "visitfjordvik.test")  # Fjordvik kommune's tourism site on its own
LEFT_TO_VERIFY = "314892593"  # Midtfjord brann og redning IKS: "verify now" in the dashboard


def earlier(manifest: Manifest) -> Manifest:
    """The demo lab a week ago: without the host `CHANGED_ORG` has added since."""
    orgs = tuple(
        org.model_copy(update={"hosts": tuple(h for h in org.hosts if h.name != NEW_HOST)})
        if org.orgnr == CHANGED_ORG
        else org
        for org in manifest.organisations
    )
    return manifest.model_copy(update={"organisations": orgs})


def scan_lab(
    session: Session, manifest: Manifest, info: LabInfo, err: Console, _: Words
) -> dict[str, tuple[float, str]]:
    """Scan the lab's organisations into the database; their (score, grade)."""
    footprints = from_manifest(manifest)
    config = ScanConfig(
        scope=ScopePolicy.lab(),
        nameservers=(info.dns_ip,),
        dns_port=info.dns_port,
        ca_file=info.ca_file,
        trust_anchor_file=info.trust_anchor_file,
    )
    with progress_bar(err, _) as bar:
        task = bar.add_task("", total=sum(len(f.domains) + len(f.hostnames) for f in footprints))
        outcome = asyncio.run(
            scan_and_store(
                session,
                footprints,
                config,
                progress=lambda r: bar.update(task, advance=1, description=r.target),
            )
        )
    return {org: (r.score, r.grade) for org, r in outcome.ratings.items()}


def replay_kev(session: Session, settings: Settings) -> UpdateResult:
    """Two feed updates: the shipped snapshot as it was before CISA added `REPLAYED_KEV`,
    then the snapshot itself, so the real update path finds the new entry and alerts."""
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "vuln"
        shutil.copytree(snapshot_dir(), before)
        kev = json.loads((before / KEV_FILE).read_text(encoding="utf-8"))
        kev["vulnerabilities"] = [v for v in kev["vulnerabilities"] if v["cveID"] != REPLAYED_KEV]
        kev["count"] = len(kev["vulnerabilities"])
        (before / KEV_FILE).write_text(json.dumps(kev), encoding="utf-8")
        update_feeds(session, str(before), settings, now_utc() - timedelta(days=1))
    return update_feeds(session, None, settings, now_utc())


def user_actions(session: Session, owner_id: int, owner: str) -> None:
    """A week of users' doings; once (a database that has them keeps them)."""
    if reads.portfolios(session, owner_id):
        return
    now = now_utc()
    _explain(
        session,
        DISPUTED_ORG,
        ExplanationKind.FALSE_POSITIVE,
        "The service is a honeypot run by our CERT; nothing real answers there.",
        now,
    )
    _explain(session, EXPLAINED_ORG, ExplanationKind.ACCEPTED_RISK,
             "Replaced with the new platform in the spring; the risk is accepted until then.",
             now)  # fmt: skip
    made = portfolios.create(session, owner_id, "Demo: utvalgte virksomheter", owner, now)
    for orgnr in PORTFOLIO:
        portfolios.add_member(session, made, organisation(session, orgnr), owner, now)
    orgnr, domain = SCORECARD
    org = organisation(session, orgnr)
    wanted = [a.id for a in scorecards.eligible_assets(session, org) if a.value == domain]
    scorecards.create(session, org, "Reiseliv", wanted, owner, now)


def _explain(
    session: Session, orgnr: str, kind: ExplanationKind, reason: str, now: datetime
) -> None:
    org = organisation(session, orgnr)
    counting = sorted(
        k for k, row in reads.finding_rows(session, org).items() if row.resolved is None
    )
    author = f"it@{org.orgnr}.utsyn.test"
    findings.explain(session, org, counting[0], kind, reason, author, now, now + 26 * WEEK)
