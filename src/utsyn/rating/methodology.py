"""docs/methodology.md, generated from the constants and the rulebook the code uses.

A test regenerates the document and compares, so the published method can never drift from
the scoring code. `utsyn rating methodology > docs/methodology.md` rewrites it.
"""

from __future__ import annotations

from typing import Any

from utsyn.rating.lifecycle import REVIEWED_SEVERITIES
from utsyn.rating.model import rate
from utsyn.rules.model import Assessment, Asset, Factor, Finding
from utsyn.rules.rulebook import Rulebook
from utsyn.rules.weights import (
    GRADE_FLOORS,
    SEVERITY_WEIGHT,
    VALUE_DEFAULT,
    VALUE_LOGIN,
    VALUE_MAIL,
    VALUE_PRIMARY_WEBSITE,
)

# The worked example: a municipality with three websites and one mail domain.
EXAMPLE_ASSETS = (
    Asset("www.eksempel.test:443", Factor.WEB, VALUE_PRIMARY_WEBSITE, primary=True),
    Asset("innsyn.eksempel.test:443", Factor.WEB, VALUE_LOGIN),
    Asset("gammel.eksempel.test:443", Factor.WEB, VALUE_DEFAULT),
    Asset("www.eksempel.test:443", Factor.TLS, VALUE_PRIMARY_WEBSITE, primary=True),
    Asset("innsyn.eksempel.test:443", Factor.TLS, VALUE_LOGIN),
    Asset("gammel.eksempel.test:443", Factor.TLS, VALUE_DEFAULT),
    Asset("eksempel.test", Factor.EMAIL, VALUE_MAIL),
)
EXAMPLE_FINDINGS = (
    Finding("web.hsts.missing", "gammel.eksempel.test:443"),
    Finding("web.hsts.missing", "innsyn.eksempel.test:443"),
    Finding("tls.protocol.tls10", "gammel.eksempel.test:443"),
    Finding("email.dmarc.none", "eksempel.test"),
)

_TEXT: dict[str, dict[str, Any]] = {
    "nb": {
        "title": "Metode for Utsyns risikoscore",
        "intro": (
            "Hver virksomhet starter på 100 poeng. Hver type funn trekker poeng etter hvor "
            "alvorlig den er og hvor stor del av virksomhetens eiendeler den rammer. "
            "Informasjonsfunn koster aldri poeng. Å rette eller gyldig forklare et funn kan "
            "aldri senke scoren."
        ),
        "formula": "Formel",
        "formula_notes": (
            "Vurdert verdi er summen av verdiene til eiendelene i regelens faktor som "
            "skanningen vurderte (for eksempel alle TLS-tjenester). Rammet verdi er summen "
            "for eiendelene med funnet. Kvadratroten gjør at de første rammede eiendelene "
            "teller mest, så en stor virksomhet ikke straffes for sin størrelse. Scoren "
            "rundes ned til én desimal. Hvert funn får sin andel av regelens trekk etter "
            "eiendelens verdi, så andelene summerer til det tapte; planleggeren viser i "
            "tillegg hva det gir å rette hvert funn alene."
        ),
        "lifecycle": "Funnenes livsløp",
        "reachability": "Når en kontroll feiler eller en ressurs ikke svarer",
        "roles": "Tjenestens rolle",
        "roles_text": (
            "Samme svakhet veier ulikt etter hva tjenesten brukes til. En regel gjelder "
            "nettsteder (HTTPS) med mindre den har en egen variant for rollen, med egen "
            "alvorlighet og begrunnelse i regeltabellen under: «e-post mellom servere» "
            "(port 25, der TLS er opportunistisk etter RFC 7435, med mindre domenet "
            "publiserer MTA-STS i modusen «enforce») og «tjeneste med innlogging» "
            "(innloggingssider, innsending av e-post, IMAP og POP, der brukere sender passord)."
        ),
        "lifecycle_text": (
            "Et funn teller fra det først ble sett til en ny skanning av eiendelen ikke ser "
            "det lenger. Et funn som ikke er sett igjen innen regelens foreldelsestid "
            "(30 dager om ikke annet er angitt) slutter å telle. Virksomheten kan forklare "
            "et funn (akseptert risiko eller kompenserende tiltak) med begrunnelse og "
            "utløpsdato; da teller det ikke før forklaringen utløper. En forklaring av et "
            "funn med alvorlighet {reviewed} gjelder først når en nasjonal kontrollør har "
            "godtatt den; til da teller funnet. Et krav om falsk positiv er en tvist: funnet "
            "teller til en nasjonal kontrollør godtar kravet."
        ),
        "grades": "Karakterer",
        "grade": "Karakter",
        "from": "Fra score",
        "weights": "Vekt per alvorlighetsgrad",
        "severity": "Alvorlighet",
        "points": "Poeng (når alle eiendeler er rammet)",
        "values": "Eiendelsverdi",
        "asset": "Eiendel",
        "value": "Verdi",
        "asset_names": ("Hovednettsted", "Sider med innlogging eller skjema", "E-post", "Annet"),
        "caps": "Karaktertak",
        "caps_intro": "Disse funnene begrenser karakteren uansett score:",
        "primary_only": "bare på hovednettstedet",
        "example": "Regneeksempel",
        "rules": "Alle regler",
        "rule": "Regel",
        "factor": "Faktor",
        "cap": "Tak",
        "total": "Score",
        "lost": "tapt",
    },
    "en": {
        "title": "Method of the Utsyn risk score",
        "intro": (
            "Every organisation starts at 100 points. Each issue type subtracts points by its "
            "severity and by the share of the organisation's assets it affects. "
            "Informational findings never cost points. Fixing, or validly explaining, a "
            "finding can never lower the score."
        ),
        "formula": "Formula",
        "formula_notes": (
            "The evaluated value is the sum of the values of the assets in the rule's factor "
            "that the scan evaluated (for example every TLS service). The affected value is "
            "the sum over the assets with the finding. The square root makes the first "
            "affected assets count most, so a large organisation is not punished for its "
            "size. The score is rounded down to one decimal. Each finding carries its share "
            "of its rule's penalty by its asset's value, so the shares add up to what was "
            "lost; the planner also shows what fixing each finding alone gives back."
        ),
        "lifecycle": "The life of a finding",
        "reachability": "When a check fails or an asset does not answer",
        "roles": "The service's role",
        "roles_text": (
            "One weakness weighs differently by what the service is for. A rule judges web "
            "sites (HTTPS) unless it has a variant of its own for the role, with its own "
            'severity and reasoning in the rules table below: "mail between servers" (port '
            "25, where TLS is opportunistic per RFC 7435, unless the domain publishes MTA-STS "
            'in "enforce" mode) and "service with logins" (login pages, mail submission, '
            "IMAP and POP, where users send passwords)."
        ),
        "lifecycle_text": (
            "A finding counts from when it was first seen until a rescan of its asset no "
            "longer sees it. A finding not seen again within its rule's decay window (30 days "
            "unless stated) stops counting. The organisation may explain a finding (accepted "
            "risk or compensating control) with a reason and an expiry; it then does not "
            "count until the explanation expires. An explanation of a finding of {reviewed} "
            "severity applies only once a national reviewer has accepted it; until then the "
            "finding counts. A false-positive claim is a dispute: the finding counts until a "
            "national reviewer accepts the claim."
        ),
        "grades": "Grades",
        "grade": "Grade",
        "from": "From score",
        "weights": "Weight by severity",
        "severity": "Severity",
        "points": "Points (when every asset is affected)",
        "values": "Asset value",
        "asset": "Asset",
        "value": "Value",
        "asset_names": ("Primary website", "Pages with login or forms", "Mail", "Other"),
        "caps": "Grade caps",
        "caps_intro": "These findings limit the grade whatever the score:",
        "primary_only": "on the primary website only",
        "example": "Worked example",
        "rules": "All rules",
        "rule": "Rule",
        "factor": "Factor",
        "cap": "Cap",
        "total": "Score",
        "lost": "lost",
    },
}

FORMULA = {
    "nb": (
        "score = max(0, 100 − Σ trekk(regel))\n"
        "trekk(regel) = poeng(regel) × √(rammet verdi ÷ vurdert verdi)\n"
        "faktorscore = max(0, 100 − Σ trekk(regler i faktoren))"
    ),
    "en": (
        "score = max(0, 100 − Σ penalty(rule))\n"
        "penalty(rule) = points(rule) × √(affected value ÷ evaluated value)\n"
        "factor score = max(0, 100 − Σ penalty(rules of the factor))"
    ),
}
_OR = {"nb": " eller ", "en": " or "}
SEVERITY_NAMES = {
    "nb": {"critical": "kritisk", "high": "høy", "medium": "middels", "low": "lav", "info": "info"},
    "en": {
        "critical": "critical",
        "high": "high",
        "medium": "medium",
        "low": "low",
        "info": "info",
    },
}


def render(book: Rulebook) -> str:
    parts = [
        f"<!-- Generated by `utsyn rating methodology` from rulebook {book.version}. "
        "Do not edit by hand. -->\n"
    ]
    for lang in ("nb", "en"):
        parts.append(_section(book, lang))
    return "\n".join(parts)


def _section(book: Rulebook, lang: str) -> str:
    t = _TEXT[lang]
    lines = [f"# {t['title']} ({book.version})", "", str(t["intro"]), ""]
    lines += [f"## {t['formula']}", "", "```", FORMULA[lang], "```", ""]
    lines += [str(t["formula_notes"]), ""]
    lines += [f"## {t['grades']}", "", f"| {t['grade']} | {t['from']} |", "|---|---|"]
    lines += [f"| {g} | ≥ {floor:g} |" for g, floor in GRADE_FLOORS] + ["| F | < 60 |", ""]
    lines += [f"## {t['weights']}", "", f"| {t['severity']} | {t['points']} |", "|---|---|"]
    names = SEVERITY_NAMES[lang]
    lines += [f"| {names[s]} | {w:g} |" for s, w in SEVERITY_WEIGHT.items()] + [""]
    values = (VALUE_PRIMARY_WEBSITE, VALUE_LOGIN, VALUE_MAIL, VALUE_DEFAULT)
    lines += [f"## {t['values']}", "", f"| {t['asset']} | {t['value']} |", "|---|---|"]
    lines += [f"| {n} | {v:g} |" for n, v in zip(t["asset_names"], values, strict=True)]
    lines += ["", f"## {t['caps']}", "", str(t["caps_intro"]), ""]
    for rule in book.rules:
        if rule.cap is not None:
            where = f" ({t['primary_only']})" if rule.cap.assets == "primary" else ""
            lines.append(f"- `{rule.id}` → {rule.cap.grade}{where}: {rule.title.get(lang)}")
    lines += ["", f"## {t['lifecycle']}", "", _lifecycle_text(lang)]
    lines += ["", f"## {t['reachability']}", "", book.reachability.reason.get(lang)]
    lines += ["", f"## {t['roles']}", "", str(t["roles_text"])]
    lines += ["", *_example(book, lang), "", *_rules_table(book, lang), ""]
    return "\n".join(lines)


def _lifecycle_text(lang: str) -> str:
    """The life of a finding, naming the severities whose explanations are reviewed."""
    reviewed = [SEVERITY_NAMES[lang][s] for s in SEVERITY_WEIGHT if s in REVIEWED_SEVERITIES]
    return str(_TEXT[lang]["lifecycle_text"]).format(reviewed=_OR[lang].join(reviewed))


def _example(book: Rulebook, lang: str) -> list[str]:
    t = _TEXT[lang]
    rating = rate(Assessment("eksempel", EXAMPLE_ASSETS, EXAMPLE_FINDINGS), book)
    lines = [f"## {t['example']}", ""]
    for p in rating.penalties:
        rule = book.rule(p.rule)
        lines.append(
            f"- `{p.rule}` ({SEVERITY_NAMES[lang][rule.severity]}): {p.weight:g} × "
            f"√({p.affected_value:g} ÷ {p.evaluated_value:g}) = {p.points:.2f}"
        )
    lines += ["", f"{t['total']}: 100 − {rating.lost:.2f} = **{rating.score:.1f}** → "
              f"**{rating.grade}**"]  # fmt: skip
    return lines


def _rules_table(book: Rulebook, lang: str) -> list[str]:
    t = _TEXT[lang]
    lines = [f"## {t['rules']}", "", f"| {t['rule']} | {t['factor']} | {t['severity']} | "
             f"{t['points']} | {t['cap']} |", "|---|---|---|---|---|"]  # fmt: skip
    for rule in book.rules:
        cap = rule.cap.grade if rule.cap else ""
        lines.append(
            f"| `{rule.id}` {rule.title.get(lang)} | {rule.factor} | "
            f"{SEVERITY_NAMES[lang][rule.severity]} | "
            f"{rule.points:g} | {cap} |"
        )
    return lines
