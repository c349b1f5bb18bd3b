"""NIST CSF 2.0 in bokmål and English, public (no login), like the programme's HTML edition.

    /csf            the six functions and their categories, the search form
    /csf/sok?q=     full-text search in both languages (`frameworks.search`)
    /csf/alle       the whole core on one page, for printing
    /csf/{id}       a function or a category; a subcategory's id redirects to its anchor on
                    its category's page (/csf/GV.OC#GV.OC-01)

Each subcategory lists the rulebook's rules mapped to it (`csf:` in rulebook.yaml): what
Utsyn observes from outside that bears on the outcome. The language is the site's
(`?lang=`, the cookie); an implementation example not yet translated is shown in English
and marked so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from utsyn.frameworks.glossary import glossary
from utsyn.frameworks.library import Framework, Node, load_framework
from utsyn.frameworks.search import index
from utsyn.i18n import SEVERITY_NAMES
from utsyn.rules.rulebook import Rule, Rulebook
from utsyn.web.deps import MaybePrincipal, context
from utsyn.web.i18n import N_
from utsyn.web.problems import Problem
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
