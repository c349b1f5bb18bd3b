"""NIST CSF 2.0 in bokmål and English, public (no login), like the programme's HTML edition.

    /csf            the six functions and their categories, the search form
    /csf/sok?q=     full-text search in both languages (`frameworks.search`)
    /csf/alle       the whole core on one page, for printing
    /csf/nsm        NSM's Grunnprinsipper for IKT-sikkerhet 2.1, each principle with the CSF
                    subcategories Utsyn maps it to (`frameworks.crosswalk`)
    /csf/{id}       a function or a category; a subcategory's id redirects to its anchor on
                    its category's page (/csf/GV.OC#GV.OC-01)
    /org/{orgnr}/csf   (logged in) the organisation's CSF profile, `?format=csv|json` to
                    download it (`web.csf_profile`)

Each subcategory lists the rulebook's rules mapped to it (`csf:` in rulebook.yaml): what
Utsyn observes from outside that bears on the outcome; and the NSM principles mapped to it,
so a Norwegian body sees its own baseline beside the framework. The language is the site's
(`?lang=`, the cookie); an implementation example not yet translated is shown in English
and marked so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from utsyn.clock import now_utc
from utsyn.frameworks.crosswalk import crosswalk
from utsyn.frameworks.glossary import glossary
from utsyn.frameworks.library import Framework, Node, load_framework
from utsyn.frameworks.search import index
from utsyn.i18n import SEVERITY_NAMES
from utsyn.rules.rulebook import Rule, Rulebook
from utsyn.store.assessments import shown_rating
from utsyn.web import csf_profile
from utsyn.web.deps import DbSession, MaybePrincipal, context
from utsyn.web.i18n import N_, request_language
from utsyn.web.pages import PageOrganisation, PagePrincipal
from utsyn.web.pages_dashboard import STATUS_NAMES
from utsyn.web.problems import Problem
from utsyn.web.ratings import shown_findings
from utsyn.web.templates import render

router = APIRouter(include_in_schema=False)
SearchQuery = Annotated[str, Query(max_length=200)]


def rules_by_subcategory(book: Rulebook) -> Mapping[str, tuple[Rule, ...]]:
    """Each subcategory's rules, in rulebook order (a role's variant is its base rule's)."""
    found: dict[str, list[Rule]] = {}
    for rule in book.rules:
        if rule.variant_of is None:
            for ref_id in rule.csf:
                found.setdefault(ref_id, []).append(rule)
    return {k: tuple(v) for k, v in found.items()}


def _page(request: Request, principal: MaybePrincipal, template: str, **values: object) -> Response:
    csf = load_framework()
    ctx = {
        "principal": principal,
        "csf": csf,
        "rules": rules_by_subcategory(context(request).book),
        "nsm": crosswalk(),
        "severity_names": SEVERITY_NAMES,
        "href": href,
        **values,
    }
    return render(request, template, ctx)


@router.get("/csf")
def csf_index(request: Request, principal: MaybePrincipal) -> Response:
    return _page(request, principal, "csf_index.html", glossary=glossary())


@router.get("/csf/sok")
def csf_search(request: Request, principal: MaybePrincipal, q: SearchQuery = "") -> Response:
    hits = index().search(q) if q.strip() else ()
    return _page(request, principal, "csf_search.html", query=q, hits=hits)


@router.get("/csf/alle")
def csf_all(request: Request, principal: MaybePrincipal) -> Response:
    csf = load_framework()
    return _page(request, principal, "csf_node.html", node=None, sections=csf.children(None))


@router.get("/csf/nsm")
def csf_nsm(request: Request, principal: MaybePrincipal) -> Response:
    return _page(request, principal, "csf_nsm.html")


@router.get("/csf/{ref_id}")
def csf_node(request: Request, principal: MaybePrincipal, ref_id: str) -> Response:
    csf = load_framework()
    node = _known(csf, ref_id)
    if node.kind == "subcategory":
        return RedirectResponse(f"/csf/{node.parent}#{node.ref_id}", status_code=303)
    sections = csf.children(node.ref_id)
    return _page(request, principal, "csf_node.html", node=node, sections=sections)


def _known(csf: Framework, ref_id: str) -> Node:
    if not csf.has(ref_id.upper()):
        raise Problem(404, N_("Not found"), N_("No such function, category or subcategory."))
    return csf.node(ref_id.upper())


def href(node: Node) -> str:
    """The address of a node's text: a subcategory is an anchor on its category's page."""
    return (
        f"/csf/{node.parent}#{node.ref_id}" if node.kind == "subcategory" else f"/csf/{node.ref_id}"
    )


@router.get("/org/{orgnr}/csf")
def org_profile(
    request: Request,
    principal: PagePrincipal,
    org: PageOrganisation,
    session: DbSession,
    format: Annotated[Literal["html", "csv", "json"], Query()] = "html",
) -> Response:
    """The organisation's CSF profile: the subcategories with observed gaps and the findings
    behind them (`web.csf_profile`); `?format=csv|json` downloads it."""
    book, lang = context(request).book, request_language(request)
    saved = shown_rating(session, org)
    rating = saved.rating if saved is not None else None
    shown = shown_findings(session, org, rating, book, now_utc())
    lines = csf_profile.profile(load_framework(), book, shown)
    if format != "html":
        body = (
            csf_profile.as_csv(lines, book, lang)
            if format == "csv"
            else csf_profile.as_json(org.orgnr, lines, book, lang)
        )
        name = f"utsyn-csf-{org.orgnr}.{format}"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        media = "text/csv; charset=utf-8" if format == "csv" else "application/json"
        return Response(body, media_type=media, headers=headers)
    counts = {s: sum(1 for line in lines if line.state == s) for s in csf_profile.STATE_NAMES}
    return _page(
        request,
        principal,
        "csf_profile.html",
        org=org,
        rating=rating,
        lines=lines,
        counts=counts,
        state_names=csf_profile.STATE_NAMES,
        status_names=STATUS_NAMES,
    )
