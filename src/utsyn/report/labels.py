"""The board summary's words, by the keys its templates use, from the catalogues (`utsyn.i18n`).

Rule titles and descriptions come from the rulebook; these are the page's headings, the
factor, sector and severity names, and the sentences around the numbers. Sentences hold
`%(name)s` placeholders, filled in the templates with Jinja's `format` filter.
"""

from __future__ import annotations

from datetime import date

from babel.dates import format_date

from utsyn.i18n import (
    EFFORT_NAMES,
    FACTOR_NAMES,
    N_,
    SEVERITY_NAMES,
    Language,
    Translator,
    name_of,
)

_LABELS = {
    "title": N_("Cyber risk – board summary"),
    "orgnr": N_("Org. no."),
    "prepared": N_("Prepared"),
    "rated_on": N_("Rated"),
    "rulebook": N_("Rulebook"),
    "grade": N_("Grade"),
    "score": N_("Score"),
    "of_100": N_("of 100"),
    "capped": N_("The grade is capped at %(grade)s because: %(reasons)s."),
    "trend": N_("Trend over the last 12 months"),
    "no_trend": N_("No earlier ratings yet."),
    "factors": N_("Points lost by area"),
    "factors_sum": N_("%(lost)s points lost in all: 100 − %(lost)s = %(score)s."),
    "factors_zero": N_(
        "The losses add up to %(lost)s points, more than 100: the score stops at 0."
    ),
    "factors_none": N_("No points lost."),
    "sector": N_("Compared with the sector"),
    "sector_shown": N_(
        "The average for %(sector)s (%(orgs)s organisations) is %(average)s. "
        "You are %(difference)s the average."
    ),
    "above": N_("%(points)s points above"),
    "below": N_("%(points)s points below"),
    "level": N_("level with"),
    "sector_hidden": N_(
        "The sector (%(sector)s) has too few rated organisations (%(orgs)s) to show an average."
    ),
    "sector_rule": N_(
        "The average is shown only when the sector has at least %(k)s rated organisations, "
        "so that no single organisation can be singled out."
    ),
    "risks": N_("The most important risks"),
    "risks_intro": N_(
        "Issues that cap the grade come first, then the ones whose fix gives back the most "
        "points. The points are what the score gains when every finding of the issue is fixed; "
        "Utsyn describes the fixes."
    ),
    "next_one": N_("To reach %(grade)s, fix the first issue below: the score becomes %(score)s."),
    "next_many": N_(
        "To reach %(grade)s, fix the first %(count)s issues below, in order: the score "
        "becomes %(score)s."
    ),
    "next_none": N_("No set of the fixes below reaches %(grade)s."),
    "next_best": N_(
        "A is the best grade. The issues below still cost points; fixing them raises the score."
    ),
    "step": N_("Step %(step)s towards %(grade)s"),
    "risks_more": N_(
        "The whole action plan, %(count)s issues in all, is on the scorecard in Utsyn."
    ),
    "no_risks": N_("No finding lowers the score now."),
    "recover": N_("+%(points)s points when fixed"),
    "affected": N_("Affects %(count)s %(noun)s"),
    "asset": N_("service or domain"),
    "assets": N_("services or domains"),
    "more": N_("and %(count)s more"),
    "changes": N_("Changes since the previous report"),
    "changes_since": N_("Since %(date)s: the score changed by %(delta)s (%(before)s → %(now)s)."),
    "changes_since_nodelta": N_("Since %(date)s. There is no rating from before that date."),
    "changes_none": N_("No new or resolved findings in the period."),
    "col_issue": N_("Issue"),
    "col_new": N_("New"),
    "col_resolved": N_("Resolved"),
    "col_points": N_("Effect on score"),
    "changes_more": N_("%(count)s more issues changed; see the full list in Utsyn."),
    "footer": N_(
        "Utsyn sees only what is visible from the internet, without logging in. Every lost "
        "point is explained in the published method."
    ),
}
# The sector as the sentences name it ("The average for the municipal sector ...").
_SECTORS = {
    "state": N_("central government"),
    "county": N_("county authorities"),
    "municipal": N_("the municipal sector"),
    "other": N_("other public bodies"),
}


def labels(lang: Language) -> dict[str, str]:
    """The page's words in `lang`, by key."""
    t = Translator(lang)
    return {key: t.gettext(message) for key, message in _LABELS.items()}


def factor_names(lang: Language) -> dict[str, str]:
    """Each factor's name in `lang` (the names the dashboard and the CLI use)."""
    t = Translator(lang)
    return {key: t.gettext(message) for key, message in FACTOR_NAMES.items()}


def effort_names(lang: Language) -> dict[str, str]:
    """What fixing takes, by `rules.rulebook.Effort` (the action plan's words)."""
    t = Translator(lang)
    return {key: t.gettext(message) for key, message in EFFORT_NAMES.items()}


def severity_name(severity: str, lang: Language) -> str:
    return name_of(SEVERITY_NAMES, severity, lang)


def sector_name(sector: str, lang: Language) -> str:
    return name_of(_SECTORS, sector or "other", lang)


def long_date(day: date, lang: Language) -> str:
    return format_date(day, "long", locale=lang)


def month_abbr(day: date, lang: Language) -> str:
    return format_date(day, "MMM", locale=lang).rstrip(".")


def number(value: float, lang: Language) -> str:
    """One decimal, with the decimal comma in Norwegian."""
    text = f"{value:.1f}"
    return text.replace(".", ",") if lang == "nb" else text


def signed(value: float, lang: Language) -> str:
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    return sign + number(abs(value), lang)
