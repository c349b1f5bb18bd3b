"""The STIX 2.1 bundle of vulnerabilities on public bodies' assets, parsed back by stix2."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
import stix2
from sqlalchemy import select
from sqlalchemy.orm import Session

from utsyn.errors import ConfigError
from utsyn.report.exports import export
from utsyn.report.scope import Caller, ExportRefused, Scope, Selection
from utsyn.report.stix import TLP2_EXTENSION, TLP2_IDS
from utsyn.rules.rulebook import load_rulebook
from utsyn.store.models import Organisation

from .conftest import CVE_KEV, CVE_PLAIN, FEATURED, HOSTILE_HOST, DemoStore, featured_org

NATIONAL = Caller("national_admin")


def bundle(session: Session, scope: Scope, **options: Any) -> dict[str, Any]:
    text = "".join(export(session, scope, NATIONAL, "stix", **options))
    parsed = stix2.parse(text, allow_custom=False)  # validates every object against 2.1
    assert isinstance(parsed, stix2.Bundle)
    data: dict[str, Any] = json.loads(text)
    return data


def of_type(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [o for o in data["objects"] if o["type"] == kind]


def test_bundle_parses_and_every_object_is_amber_strict(
    session: Session, demo_store: DemoStore
) -> None:
    data = bundle(session, Scope("national"), now=demo_store.now)
    (marking,) = of_type(data, "marking-definition")
    assert marking["id"] == TLP2_IDS["amber+strict"] and marking["name"] == "TLP:AMBER+STRICT"
    assert marking["extensions"][TLP2_EXTENSION]["tlp_2_0"] == "amber+strict"
    for obj in data["objects"]:
        if obj["type"] != "marking-definition":
            assert obj["object_marking_refs"] == [marking["id"]], obj["type"]


def test_vulnerabilities_with_cve_references_on_the_organisations_assets(
    session: Session, demo_store: DemoStore
) -> None:
    data = bundle(session, Scope("national"), now=demo_store.now)
    vulns = {v["name"]: v for v in of_type(data, "vulnerability")}
    assert set(vulns) == {CVE_KEV, CVE_PLAIN}
    refs = {r["source_name"]: r for r in vulns[CVE_KEV]["external_references"]}
    assert refs["cve"]["external_id"] == CVE_KEV and "cisa-kev" in refs
    orgs = [i for i in of_type(data, "identity") if i["identity_class"] == "organization"]
    assert [o["name"] for o in orgs] == ["Åsmyra kommune"]
    assert orgs[0]["external_references"][0]["external_id"] == FEATURED
    assert orgs[0]["sectors"] == ["government-local"]
    infra = {i["name"] for i in of_type(data, "infrastructure")}
    assert infra == {"www.asmyra.test:443", HOSTILE_HOST}  # a name is data, kept as seen
    has = [r for r in of_type(data, "relationship") if r["relationship_type"] == "has"]
    assert len(has) == 2 and all(r["confidence"] == 85 for r in has)
    assert any("in CISA KEV" in r["description"] for r in has)
    assert len(of_type(data, "observed-data")) == 2


def test_every_reference_resolves_inside_the_bundle(
    session: Session, demo_store: DemoStore
) -> None:
    data = bundle(session, Scope("national"), now=demo_store.now)
    ids = [o["id"] for o in data["objects"]]
    assert len(ids) == len(set(ids))
    known = set(ids)
    for obj in data["objects"]:
        for name, value in obj.items():
            targets = value if name.endswith("_refs") else [value] if name.endswith("_ref") else []
            assert set(targets) <= known, (obj["type"], name)


def test_bundle_records_scope_time_and_rulebook_version(
    session: Session, demo_store: DemoStore
) -> None:
    data = bundle(session, Scope("org", FEATURED), now=demo_store.now)
    (note,) = of_type(data, "note")
    content = json.loads(note["content"])
    assert content["scope"] == f"org:{FEATURED}"
    assert content["rulebook_version"] == load_rulebook().version
    assert content["exported_at"] == demo_store.now.isoformat()
    assert content["vulnerabilities"] == 2


def test_an_organisation_without_vulnerabilities_gives_an_empty_but_valid_bundle(
    session: Session, demo_store: DemoStore
) -> None:
    data = bundle(session, Scope("org", "318627126"), now=demo_store.now)  # Fjordvik
    assert of_type(data, "vulnerability") == [] and len(of_type(data, "note")) == 1


def test_tlp_amber_on_request_and_never_a_sharing_level(
    session: Session, demo_store: DemoStore
) -> None:
    data = bundle(session, Scope("national"), tlp="amber", now=demo_store.now)
    (marking,) = of_type(data, "marking-definition")
    assert marking["id"] == TLP2_IDS["amber"]
    for level in ("clear", "green", "white"):
        with pytest.raises(ConfigError, match="TLP"):
            export(session, Scope("national"), NATIONAL, "stix", tlp=level)


def test_stix_is_streamed_and_national_for_national_roles(session: Session) -> None:
    assert inspect.isgenerator(export(session, Scope("national"), NATIONAL, "stix"))
    with pytest.raises(ExportRefused):
        export(session, Scope("national"), Caller("org_admin", FEATURED), "stix")


def test_a_national_list_exports_only_its_organisations(
    session: Session, demo_store: DemoStore
) -> None:
    """The national view's list (`Selection`): the bundle holds its organisations alone."""
    featured = featured_org(session).id
    others = [o for o in session.scalars(select(Organisation.id)) if o != featured]
    with_it = Scope("national", within=Selection("county=34", (featured, *others[:3])))
    data = bundle(session, with_it, now=demo_store.now)
    orgs = [i for i in of_type(data, "identity") if i["identity_class"] == "organization"]
    assert [o["name"] for o in orgs] == ["Åsmyra kommune"]
    assert "national:county=34" in of_type(data, "note")[0]["content"]
    without = Scope("national", within=Selection("county=03", tuple(others)))
    assert of_type(bundle(session, without, now=demo_store.now), "vulnerability") == []
    nobody = Scope("national", within=Selection("status=inactive", ()))
    assert of_type(bundle(session, nobody, now=demo_store.now), "identity")[1:] == []
    with pytest.raises(ExportRefused):
        export(session, with_it, Caller("org_admin", FEATURED), "stix")
