"""The board summary as a print-ready page (/org/{orgnr}/styresammendrag).

The same content as the PDF (GET /org/{orgnr}/board.pdf): both are drawn from
`report.board.board_data`, in the board summary's own words (`report.labels`), plus each
risk's remediation from the rulebook. Bokmål by default, English with ?lang=en. Printed,
`static/print.css` hides the site's navigation and keeps it to two A4 pages (the same
amount of detail as the PDF's first, fullest layout).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from utsyn.clock import now_utc
from utsyn.errors import ConfigError
from utsyn.report import board, chart
from utsyn.report.labels import (
    effort_names,
    factor_names,
    labels,
    long_date,
    number,
    sector_name,
    severity_name,
    signed,
)
from utsyn.web.deps import DbSession, context
from utsyn.web.i18n import N_, request_language
from utsyn.web.pages import PageOrganisation, PagePrincipal
from utsyn.web.problems import Problem
from utsyn.web.templates import render

router = APIRouter(include_in_schema=False)


@router.get("/org/{orgnr}/styresammendrag")
def board_summary(
    request: Request, principal: PagePrincipal, org: PageOrganisation, session: DbSession
) -> Response:
    book = context(request).book
    lang = request_language(request)
    try:
        data = board.board_data(session, org.orgnr, lang, now=now_utc(), book=book)
    except ConfigError as exc:  # never rated: there is nothing to summarise
        raise Problem(
            404, N_("Not found"), N_("This organisation has not been rated yet.")
        ) from exc
    detail = board.DETAILS[0]
    risks = data.risks[: detail.risks]
    ctx = {
        "principal": principal,
        "org": org,
        "d": data,
        "t": labels(data.lang),
        "detail": detail,
        "risks": risks,
        "remediation": {
            r.rule: book.rule(r.rule).remediation.get(lang) for r in risks if book.has(r.rule)
        },
        "factor_names": factor_names(data.lang),
        "effort_names": effort_names(data.lang),
        "sector_label": sector_name(data.sector.sector, data.lang),
        # Our own drawing from numbers and escaped labels: Markup, not scanned text.
        "trend_svg": chart.trend_svg(list(data.trend), data.rated_on, data.lang),
        "severity": lambda s: severity_name(s, data.lang),
        "num": lambda v: number(v, data.lang),
        "signed": lambda v: signed(v, data.lang),
        "day": lambda d: long_date(d, data.lang),
    }
    return render(request, "board.html", ctx)
