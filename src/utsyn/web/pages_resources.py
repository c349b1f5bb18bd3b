"""The public security resources page, /ressurser: frameworks, risk and vulnerability analysis,
managed security services, awareness and open tools, in bokmål or English.

The entries are data (`data/resources.yaml`, format at its top), each with its publisher, its
address and the date of what it describes; the template only lays them out.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from fastapi import APIRouter, Request
from starlette.responses import Response

from utsyn.errors import ConfigError
from utsyn.frameworks.library import Text
from utsyn.web.deps import MaybePrincipal
from utsyn.web.templates import render

router = APIRouter(include_in_schema=False)
PATH = "resources.yaml"


@dataclass(frozen=True, slots=True)
class Resource:
    title: Text
    description: Text
    url: str
    here: str | None  # Utsyn's own page for it, if any
    publisher: str
    source_date: str


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    title: Text
    intro: Text
    entries: tuple[Resource, ...]


@cache
def resources() -> tuple[Section, ...]:
    """The shipped resources; a ConfigError names what is wrong with the file."""
    try:
        data = yaml.safe_load(files("utsyn.data").joinpath(PATH).read_text(encoding="utf-8"))
        return tuple(_section(raw) for raw in data["sections"])
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            "%(path)s: invalid resource list: %(reason)s", path=PATH, reason=exc
        ) from exc


def _section(raw: dict[str, Any]) -> Section:
    return Section(
        id=str(raw["id"]),
        title=_text(raw["title"]),
        intro=_text(raw["intro"]),
        entries=tuple(_resource(e) for e in raw["entries"]),
    )


def _resource(raw: dict[str, Any]) -> Resource:
    url, here = str(raw["url"]), raw.get("here")
    if not url.startswith("https://"):
        raise ValueError(f"{url}: not an https address")
    if here is not None and not str(here).startswith("/"):
        raise ValueError(f"{here}: not a path in Utsyn")
    return Resource(
        title=_text(raw["title"]),
        description=_text(raw["description"]),
        url=url,
        here=None if here is None else str(here),
        publisher=str(raw["publisher"]),
        source_date=str(raw["source_date"]),
    )


def _text(raw: dict[str, Any]) -> Text:
    en, nb = raw["en"], raw["nb"]
    if not (isinstance(en, str) and en.strip() and isinstance(nb, str) and nb.strip()):
        raise ValueError(f"a text lacks a language: {raw!r}")
    return Text(en=en, nb=nb)


@router.get("/ressurser")
def resources_page(request: Request, principal: MaybePrincipal) -> Response:
    return render(request, "resources.html", {"principal": principal, "sections": resources()})
