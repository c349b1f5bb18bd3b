"""The board summary's own words, in Norwegian bokmål (the default) and English.

Rule titles and descriptions come from the rulebook; these are the page's headings, the
factor and sector names, and the sentences around the numbers.
"""

from __future__ import annotations

from datetime import date
from typing import Literal, get_args

from babel.dates import format_date

from utsyn.errors import ConfigError

Lang = Literal["nb", "en"]
LANGS: tuple[Lang, ...] = get_args(Lang)

LABELS: dict[Lang, dict[str, str]] = {
    "nb": {
        "title": "Cyberrisiko – styresammendrag",
        "orgnr": "Org.nr.",
        "prepared": "Utarbeidet",
        "rated_on": "Vurdert",
        "rulebook": "Regelbok",
        "grade": "Karakter",
        "score": "Poeng",
        "of_100": "av 100",
        "capped": "Karakteren er begrenset til {grade} fordi: {reasons}.",
        "trend": "Utvikling siste 12 måneder",
        "no_trend": "Ingen tidligere vurderinger ennå.",
        "factors": "Poeng tapt per område",
        "factors_sum": "Til sammen {lost} poeng tapt: 100 − {lost} = {score}.",
        "factors_zero": "Tapene er til sammen {lost} poeng, mer enn 100: scoren stopper på 0.",
        "factors_none": "Ingen poeng tapt.",
        "sector": "Sammenlignet med sektoren",
        "sector_shown": (
            "Snittet for {sector} ({orgs} virksomheter) er {average}. "
            "Dere ligger {difference} snittet."
        ),
        "above": "{points} poeng over",
        "below": "{points} poeng under",
        "level": "på",
        "sector_hidden": (
            "Sektoren ({sector}) har for få vurderte virksomheter ({orgs}) til at et snitt "
            "kan vises."
        ),
        "sector_rule": (
            "Snittet vises bare når sektoren har minst {k} vurderte virksomheter, slik at "
            "ingen enkeltvirksomhet kan gjenkjennes."
        ),
        "risks": "De viktigste risikoene",
        "risks_intro": (
            "Sortert etter hvor mange poeng utbedring gir tilbake. Tiltakene er beskrevet "
            "nærmere i Utsyn."
        ),
        "no_risks": "Ingen funn trekker ned poengene nå.",
        "recover": "+{points} poeng ved utbedring",
        "affected": "Berører {count} {noun}",
        "asset": "tjeneste eller domene",
        "assets": "tjenester eller domener",
        "more": "og {count} til",
        "changes": "Endringer siden forrige rapport",
        "changes_since": "Siden {date}: poengsummen har endret seg med {delta} ({before} → {now}).",
        "changes_since_nodelta": "Siden {date}. Det finnes ingen vurdering fra før denne datoen.",
        "changes_none": "Ingen nye eller løste funn i perioden.",
        "col_issue": "Forhold",
        "col_new": "Nye",
        "col_resolved": "Løst",
        "col_points": "Poengeffekt",
        "changes_more": "Ytterligere {count} forhold er endret; se full oversikt i Utsyn.",
        "severity_critical": "Kritisk",
        "severity_high": "Høy",
        "severity_medium": "Middels",
        "severity_low": "Lav",
        "severity_info": "Info",
        "footer": (
            "Utsyn ser bare det som er synlig fra internett, uten innlogging. Hvert tapte poeng "
            "er forklart i den publiserte metoden."
        ),
    },
    "en": {
        "title": "Cyber risk – board summary",
        "orgnr": "Org. no.",
        "prepared": "Prepared",
        "rated_on": "Rated",
        "rulebook": "Rulebook",
        "grade": "Grade",
        "score": "Score",
        "of_100": "out of 100",
        "capped": "The grade is capped at {grade} because: {reasons}.",
        "trend": "Trend over the last 12 months",
        "no_trend": "No earlier ratings yet.",
        "factors": "Points lost by area",
        "factors_sum": "{lost} points lost in all: 100 − {lost} = {score}.",
        "factors_zero": "The losses add up to {lost} points, more than 100: the score stops at 0.",
        "factors_none": "No points lost.",
        "sector": "Compared with the sector",
        "sector_shown": (
            "The average for {sector} ({orgs} organisations) is {average}. "
            "You are {difference} the average."
        ),
        "above": "{points} points above",
        "below": "{points} points below",
        "level": "level with",
        "sector_hidden": (
            "The sector ({sector}) has too few rated organisations ({orgs}) to show an average."
        ),
        "sector_rule": (
            "The average is shown only when the sector has at least {k} rated organisations, "
            "so that no single organisation can be singled out."
        ),
        "risks": "The most important risks",
        "risks_intro": "Ordered by the points fixing them gives back; Utsyn describes the fixes.",
        "no_risks": "No finding lowers the score now.",
        "recover": "+{points} points when fixed",
        "affected": "Affects {count} {noun}",
        "asset": "service or domain",
        "assets": "services or domains",
        "more": "and {count} more",
        "changes": "Changes since the previous report",
        "changes_since": "Since {date}: the score changed by {delta} ({before} → {now}).",
        "changes_since_nodelta": "Since {date}. There is no rating from before that date.",
        "changes_none": "No new or resolved findings in the period.",
        "col_issue": "Issue",
        "col_new": "New",
        "col_resolved": "Resolved",
        "col_points": "Effect on score",
        "changes_more": "{count} more issues changed; see the full list in Utsyn.",
        "severity_critical": "Critical",
        "severity_high": "High",
        "severity_medium": "Medium",
        "severity_low": "Low",
        "severity_info": "Info",
        "footer": (
            "Utsyn sees only what is visible from the internet, without logging in. Every lost "
            "point is explained in the published method."
        ),
    },
}

FACTORS: dict[Lang, dict[str, str]] = {
    "nb": {
        "tls": "Kryptering (TLS)",
        "web": "Nettsider",
        "email": "E-post",
        "dns": "DNS",
        "network": "Åpne tjenester",
        "vulnerabilities": "Kjente sårbarheter",
        "leakage": "Informasjonslekkasje",
    },
    "en": {
        "tls": "Encryption (TLS)",
        "web": "Websites",
        "email": "E-mail",
        "dns": "DNS",
        "network": "Exposed services",
        "vulnerabilities": "Known vulnerabilities",
        "leakage": "Information leakage",
    },
}

SECTORS: dict[Lang, dict[str, str]] = {
    "nb": {
        "state": "statlige virksomheter",
        "county": "fylkeskommuner",
        "municipal": "kommunal sektor",
        "other": "andre offentlige virksomheter",
    },
    "en": {
        "state": "central government",
        "county": "county authorities",
        "municipal": "the municipal sector",
        "other": "other public bodies",
    },
}


def checked_lang(lang: str) -> Lang:
    for known in LANGS:
        if lang == known:
            return known
    raise ConfigError(f"unknown language {lang!r}: use {' or '.join(LANGS)}")


def sector_name(sector: str, lang: Lang) -> str:
    return SECTORS[lang].get(sector, sector or SECTORS[lang]["other"])


def long_date(day: date, lang: Lang) -> str:
    return format_date(day, "long", locale=lang)


def month_abbr(day: date, lang: Lang) -> str:
    return format_date(day, "MMM", locale=lang).rstrip(".")


def number(value: float, lang: Lang) -> str:
    """One decimal, with the decimal comma in Norwegian."""
    text = f"{value:.1f}"
    return text.replace(".", ",") if lang == "nb" else text


def signed(value: float, lang: Lang) -> str:
    sign = "+" if value > 0 else "−" if value < 0 else "±"
    return sign + number(abs(value), lang)
