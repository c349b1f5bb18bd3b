"""`utsyn rating methodology|vocabulary|show|plan|diff|rescore|change`: scores, grades and why."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from utsyn.cli.options import LangOpt
from utsyn.cli.output import Words, console, err_console, factor_name, progress_bar, table, words
from utsyn.errors import ConfigError
from utsyn.i18n import EFFORT_NAMES, N_, SEVERITY_NAMES, Language, checked_language

if TYPE_CHECKING:
    from utsyn.pipeline import Rated
    from utsyn.rating.actions import ActionPlan
    from utsyn.rating.model import Rating
    from utsyn.rules.rulebook import Rulebook

app = typer.Typer(help="Scores, grades and their explanations.", no_args_is_help=True)

ScanOpt = Annotated[
    Path | None,
    typer.Option("--scan", help="A scan report (`utsyn scan -o FILE`); default: the database."),
]
OrgOpt = Annotated[
    str | None, typer.Option("--org", help="Organisation number (default: every one).")
]
# `rating.explain.Change.change`, as `rating change` prints it.
CHANGES = {
    "new": N_("new"),
    "resolved": N_("resolved"),
    "changed weight": N_("changed weight"),
}


@app.command("methodology")
def rating_methodology() -> None:
    """Print docs/methodology.md, generated from the scoring constants and the rulebook."""
    # Lazy (start-up): the rulebook and the scoring cost ~150 ms CPU.
    from utsyn.rating.methodology import render
    from utsyn.rules.rulebook import load_rulebook

    sys.stdout.write(render(load_rulebook()))


@app.command("vocabulary")
def rating_vocabulary() -> None:
    """Print docs/vocabulary.md: each outcome's checks, names and rules, from the code."""
    # Lazy (start-up): the lab's ground truth and the rulebook, as `methodology` above.
    from utsyn.lab.expected import expected_results
    from utsyn.lab.scenarios import load_scenario
    from utsyn.rules.rulebook import load_rulebook
    from utsyn.rules.vocabulary import VULNERABILITY_EXAMPLES, render

    results = [*expected_results(load_scenario("demo")), VULNERABILITY_EXAMPLES]
    sys.stdout.write(render(results, load_rulebook()))


def _rated(scan_file: Path | None, org: str | None, rulebook: Path | None = None) -> list[Rated]:
    # Lazy (start-up): the pipeline (rules, rating, store) costs ~900 ms CPU.
    from utsyn.pipeline import load_scan, rate_all, stored_rated
    from utsyn.rules.rulebook import load_rulebook
    from utsyn.store.db import open_session

    if scan_file is None:
        with open_session() as session:
            return stored_rated(session, org)
    footprints, results = load_scan(scan_file)
    rated = rate_all(footprints, results, load_rulebook(rulebook))
    if org is not None:
        rated = [r for r in rated if r.org == org]
        if not rated:
            raise ConfigError(
                "organisation %(orgnr)s is not in %(path)s", orgnr=org, path=scan_file
            )
    return rated


@app.command("show")
def rating_show(
    scan: ScanOpt = None,
    org: OrgOpt = None,
    lang: LangOpt = "nb",
    as_json: Annotated[
        bool, typer.Option("--json", help="Every rating whole, as JSON (one list).")
    ] = False,
) -> None:
    """Score, grade, factor scores and every finding with the points it costs."""
    # Lazy (start-up): the rulebook and the scoring cost ~150 ms CPU.
    from utsyn.rating.codec import rating_to_json
    from utsyn.rating.explain import binding_caps, impacts
    from utsyn.rules.rulebook import load_rulebook

    _ = words(lang)
    language = checked_language(lang)
    book = load_rulebook()
    rated = _rated(scan, org)
    if as_json:
        sys.stdout.write(json.dumps([rating_to_json(r.rating) for r in rated], indent=1) + "\n")
        return
    for item in rated:
        r = item.rating
        rulebook = _("Rulebook %(version)s", version=r.rulebook_version)
        console.print(
            f"[bold]{escape(r.org)}[/]: {_.number(r.score)} [bold]{r.grade}[/] ({rulebook})"
        )
        for cap in binding_caps(r):
            title = book.rule(cap.rule).title.get(language) if book.has(cap.rule) else cap.rule
            capped = _(
                "Grade capped at %(grade)s by: %(finding)s on %(asset)s",
                grade=cap.grade,
                finding=escape(title),
                asset=escape(cap.asset),
            )
            console.print(f"  {capped}")
        console.print(f"  {_losses_line(r, _)}")
        if item.patching_days is not None:
            cadence = _(
                "Patching cadence: %(days)s days (median, high/critical CVEs)",
                days=_.number(item.patching_days),
            )
            console.print(f"  {cadence}")
        shown = table(None, _("Points"), _("If fixed"), _("Rule"), _("Asset"), plain=True)
        for line in impacts(r):
            title = book.rule(line.rule).title.get(language)
            asset = line.asset + (f" ({line.detail})" if line.detail else "")
            shown.add_row(
                _.number(line.points),
                _.number(line.recover, signed=True),
                escape(title),
                escape(asset),
            )
        console.print(shown)


def _losses_line(rating: Rating, _: Words) -> str:
    """`Points lost: Websites 8.1 + Encryption (TLS) 4.0 = 12.1 (100 − 87.9)`: the parts add up."""
    from utsyn.rating.explain import area_losses  # lazy: the scoring costs ~115 ms CPU

    losses = area_losses(rating)
    if not losses.parts:
        return _("No points lost.")
    parts = " + ".join(
        f"{factor_name(_, area)} {_.number(points)}" for area, points in losses.parts.items()
    )
    if losses.stopped_at_zero:
        return _(
            "Points lost: %(parts)s = %(total)s (over 100: the score stops at 0)",
            parts=parts,
            total=_.number(losses.total),
        )
    return _(
        "Points lost: %(parts)s = %(total)s (100 − %(score)s)",
        parts=parts,
        total=_.number(losses.total),
        score=_.number(rating.score),
    )


@app.command("plan")
def rating_plan(
    org: Annotated[str, typer.Option("--org", help="Organisation number.")],
    scan: ScanOpt = None,
    fix: Annotated[
        list[str] | None, typer.Option("--fix", help="Rule id or finding key (repeatable).")
    ] = None,
    lang: LangOpt = "nb",
) -> None:
    """The action plan: issues in the order to fix them, the points each fix gives back and
    the way to the next grade (the scorecard's). With --fix: the score if those were fixed."""
    # Lazy (start-up): the rulebook and the scoring cost ~150 ms CPU.
    from utsyn.rating.actions import action_plan
    from utsyn.rating.explain import plan
    from utsyn.rules.rulebook import load_rulebook

    _ = words(lang)
    language = checked_language(lang)
    book = load_rulebook()
    (item,) = _rated(scan, org)
    if not fix:
        _print_plan(item.org, action_plan(item.assessment, book), book, language, _)
        return
    result = plan(item.assessment, book, fix)
    if result.unknown:
        raise ConfigError("no finding matches: %(fixes)s", fixes=", ".join(result.unknown))
    now = f"{_.number(result.current)} {result.grade_now}"
    then = f"{_.number(result.projected)} {result.grade_projected}"
    fixed = len(result.fixed)
    console.print(
        _("%(now)s → %(then)s by fixing %(count)s finding(s)", now=now, then=then, count=fixed)
    )


def _print_plan(org: str, found: ActionPlan, book: Rulebook, lang: Language, _: Words) -> None:
    """The plan as the scorecard shows it, in the same words and numbers."""
    # Lazy (start-up): the report's labels load babel's dates (~75 ms CPU).
    from utsyn.report.labels import number
    from utsyn.report.markdown import to_plain

    def title(rule: str) -> str:
        return escape(to_plain(book.rule(rule).title.get(lang)))

    console.print(f"[bold]{escape(org)}[/]: {number(found.score, lang)} [bold]{found.grade}[/]")
    console.print(_next_line(found, lang, _))
    if found.stopped_at_zero:
        console.print(
            _(
                "Together the issues cost %(lost)s points, more than 100, so the score stops at "
                "0: one fix alone gives back little or nothing until the rest cost less than "
                "100. The steps show the score as the fixes add up.",
                lost=number(found.lost, lang),
            )
        )
    steps = {s.rule: (n, s) for n, s in enumerate(found.next.steps if found.next else (), 1)}
    for n, group in enumerate(found.groups, 1):
        gain = _("+%(points)s points when fixed", points=number(group.recover, lang))
        console.print(f"\n{n:>3}. [bold]{title(group.rule)}[/]  [green]{gain}[/]")
        tags = [_(SEVERITY_NAMES[group.severity]), factor_name(_, group.factor)]
        if group.effort is not None:
            tags.append(_(EFFORT_NAMES[group.effort]))
        if group.cap is not None:
            tags.append(_("caps the grade at %(grade)s", grade=group.cap))
        console.print("     " + " · ".join(tags))
        if group.rule in steps and found.next is not None:
            step, after = steps[group.rule]
            towards = _(
                "Step %(step)s towards %(grade)s: the score becomes %(score)s",
                step=step,
                grade=found.next.grade,
                score=number(after.score, lang),
            )
            console.print(f"     {towards}")
        shown = ", ".join(escape(a) for a in group.assets[:3])
        more = len(group.assets) - 3
        rest = " " + _("and %(count)s more", count=more) if more > 0 else ""
        console.print(
            "     " + _("Affects %(count)s:", count=len(group.assets)) + f" {shown}{rest}"
        )
    if found.potential:
        products = _(
            "Possible vulnerabilities to check (no points): %(count)s products",
            count=len(found.potential),
        )
        console.print(f"\n{products}")
        for item in found.potential:
            on = _(
                "%(cves)s CVEs on %(assets)s", cves=len(item.cves), assets=", ".join(item.assets)
            )
            console.print(f"  {escape(item.product)}: {escape(on)}")
    if found.advice:
        advice = _("Advice that costs no points: %(count)s issues", count=len(found.advice))
        console.print(f"\n{advice}")
        for group in found.advice:
            console.print(f"  {title(group.rule)}")


def _next_line(found: ActionPlan, lang: Language, _: Words) -> str:
    from utsyn.report.labels import number  # lazy: babel's dates, as in _print_plan

    target = found.next
    if target is None:
        return _(
            "A is the best grade. The issues below still cost points; fixing them raises the score."
        )
    if not target.reached:
        return _("No set of the fixes below reaches %(grade)s.", grade=target.grade)
    score = number(target.steps[-1].score, lang)
    if len(target.steps) == 1:
        return _(
            "To reach %(grade)s, fix the first issue below: the score becomes %(score)s.",
            grade=target.grade,
            score=score,
        )
    return _(
        "To reach %(grade)s, fix the first %(count)s issues below, in order: the score "
        "becomes %(score)s.",
        grade=target.grade,
        count=len(target.steps),
        score=score,
    )


@app.command("diff")
def rating_diff(
    from_: Annotated[Path, typer.Option("--from", help="The rulebook file in force.")],
    to: Annotated[Path, typer.Option("--to", help="The proposed rulebook file.")],
    scan: ScanOpt = None,
    lang: LangOpt = "nb",
) -> None:
    """Every organisation's score and grade under two rulebook versions, before adoption."""
    # Lazy (start-up): the rulebook and the scoring cost ~150 ms CPU.
    from utsyn.rating.model import rate
    from utsyn.rules.rulebook import load_rulebook

    _ = words(lang)
    before, after = load_rulebook(from_), load_rulebook(to)
    assessed = _rated(scan, None, from_)
    old = {r.org: rate(r.assessment, before) for r in assessed}
    new = {r.org: rate(r.assessment, after) for r in assessed}
    shown = table(_("Rulebook change"), _("Organisation"), _("Before"), _("After"), _("Change"))
    for org in sorted(old):
        a, b = old[org], new[org]
        shown.add_row(
            org,
            f"{_.number(a.score)} {a.grade} ({a.rulebook_version})",
            f"{_.number(b.score)} {b.grade} ({b.rulebook_version})",
            f"{_.number(b.score - a.score, signed=True)}",
        )
    console.print(shown)


@app.command("rescore")
def rating_rescore(
    orgs: Annotated[
        list[str] | None, typer.Argument(help="Organisation numbers (default: every one).")
    ] = None,
    lang: LangOpt = "nb",
) -> None:
    """Re-rate stored organisations without scanning (expired explanations, decay, a new
    rulebook): new snapshots, rollups, custom scorecards and grade-drop alerts."""
    # Lazy (start-up): the pipeline (rules, rating, store) costs ~900 ms CPU.
    from utsyn.pipeline import rerate_all
    from utsyn.rules.rulebook import load_rulebook
    from utsyn.store.db import open_session

    _ = words(lang)
    book = load_rulebook()
    with open_session() as session, progress_bar(err_console, _) as bar:
        task = bar.add_task(_("rescoring"), total=None)
        done = rerate_all(
            session, book, orgs or None, lambda n, total: bar.update(task, completed=n, total=total)
        )
    console.print(
        _(
            "%(done)s organisation(s) rescored under rulebook %(version)s",
            done=done,
            version=book.version,
        )
    )


@app.command("change")
def rating_change(
    before: Annotated[Path, typer.Option("--before", help="The earlier scan report.")],
    after: Annotated[Path, typer.Option("--after", help="The later scan report.")],
    org: Annotated[str, typer.Option("--org", help="Organisation number.")],
    lang: LangOpt = "nb",
) -> None:
    """Why did the score change? Finding by finding, between two scans."""
    from utsyn.rating.explain import diff  # lazy: the scoring costs ~115 ms CPU

    _ = words(lang)
    (a,) = _rated(before, org)
    (b,) = _rated(after, org)
    change = diff(a.rating, b.rating)
    was = f"{_.number(change.before)} {change.grade_before}"
    now = f"{_.number(change.after)} {change.grade_after}"
    console.print(f"{was} → {now} ({_.number(change.delta, signed=True)})")
    for c in change.changes:
        kind = _(CHANGES[c.change]) if c.change in CHANGES else c.change
        console.print(f"  {_.number(-c.points, signed=True):>6}  {kind:15} {c.rule}  {c.asset}")
