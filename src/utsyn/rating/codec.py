"""Ratings and assets as plain JSON, for the store: a saved rating reads back equal.

A finding's evidence is not kept here (the store's finding rows hold it): a rating read
back has the same findings, points, caps and areas, with empty evidence.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from utsyn.rating.model import CapApplied, FindingImpact, Rating, RulePenalty
from utsyn.rules.model import Asset, Factor, Finding
from utsyn.rules.weights import Grade


def assets_to_json(assets: Iterable[Asset]) -> list[list[Any]]:
    return [[a.id, str(a.factor), a.value, a.primary] for a in assets]


def assets_from_json(rows: Iterable[list[Any]]) -> tuple[Asset, ...]:
    return tuple(
        Asset(str(id_), Factor(factor), float(value), bool(primary))
        for id_, factor, value, primary in rows
    )


def rating_to_json(rating: Rating) -> dict[str, Any]:
    return {
        "org": rating.org,
        "score": rating.score,
        "grade": rating.grade,
        "score_grade": rating.score_grade,
        "factors": dict(rating.factors),
        "rulebook_version": rating.rulebook_version,
        "penalties": [_penalty_to_json(p) for p in rating.penalties],
        "caps": [[c.rule, c.grade, c.asset] for c in rating.caps],
    }


def _penalty_to_json(p: RulePenalty) -> dict[str, Any]:
    return {
        "rule": p.rule,
        "factor": str(p.factor),
        "weight": p.weight,
        "affected": p.affected_value,
        "evaluated": p.evaluated_value,
        "points": p.points,
        "impacts": [
            [i.finding.rule, i.finding.asset, i.finding.detail, i.points, i.recover]
            for i in p.impacts
        ],
    }


def rating_from_json(data: dict[str, Any]) -> Rating:
    penalties = tuple(_penalty_from_json(p) for p in data["penalties"])
    return Rating(
        org=str(data["org"]),
        score=float(data["score"]),
        grade=cast(Grade, data["grade"]),
        score_grade=cast(Grade, data["score_grade"]),
        factors={str(k): float(v) for k, v in data["factors"].items()},
        penalties=penalties,
        caps=tuple(CapApplied(r, cast(Grade, g), a) for r, g, a in data["caps"]),
        rulebook_version=str(data["rulebook_version"]),
        findings=tuple(i.finding for p in penalties for i in p.impacts),
    )


def _penalty_from_json(data: dict[str, Any]) -> RulePenalty:
    impacts = tuple(
        FindingImpact(Finding(rule, asset, detail), float(points), float(recover))
        for rule, asset, detail, points, recover in data["impacts"]
    )
    return RulePenalty(
        rule=str(data["rule"]),
        factor=Factor(data["factor"]),
        weight=float(data["weight"]),
        affected_value=float(data["affected"]),
        evaluated_value=float(data["evaluated"]),
        points=float(data["points"]),
        impacts=impacts,
    )
