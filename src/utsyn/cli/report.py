"""`utsyn report board|export`: the board summary PDF and the exports, from the command line.

The command line is the operator's tool on the database itself, so it acts with the
national administrator's role; the web routes pass the signed-in user's role instead.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, TextIO

import typer

from utsyn.cli.options import LangOpt
from utsyn.cli.output import words
from utsyn.errors import ConfigError, os_reason
from utsyn.files import open_private_text, write_private

app = typer.Typer(
    help="Board summaries (PDF) and exports (CSV, JSON, STIX 2.1).", no_args_is_help=True
)
OPERATOR_ROLE = "national_admin"


@app.command("board")
def board(
    org: Annotated[str, typer.Option("--org", help="Organisation number.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The PDF file to write.")],
    lang: LangOpt = "nb",
    since: Annotated[
        str | None,
        typer.Option("--since", help="Changes since YYYY-MM-DD (default: the last report)."),
    ] = None,
) -> None:
    """The board summary of one organisation: at most two A4 pages."""
    # Lazy (start-up): the board summary (jinja2, the store) costs ~670 ms CPU.
    from utsyn.report.board import board_pdf
    from utsyn.store.db import open_session

    _ = words(lang)
    with open_session() as session:
        pdf = board_pdf(session, org, lang, _day(since))
    _write(output, pdf)
    done = _("board summary of %(org)s (%(lang)s)", org=org, lang=lang)
    typer.echo(f"{output}: {done}")


@app.command("export")
def export(
    scope: Annotated[str, typer.Option("--scope", help="org, portfolio or national.")],
    fmt: Annotated[str, typer.Option("--format", help="csv, json or stix.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="The file to write.")],
    org: Annotated[str | None, typer.Option("--org", help="Organisation number.")] = None,
    portfolio: Annotated[
        str | None, typer.Option("--portfolio", help="Portfolio name (or its id).")
    ] = None,
    lang: Annotated[
        str,
        typer.Option(
            "--lang", envvar="UTSYN_LANG", help="nb (default) or en: words and rule titles."
        ),
    ] = "nb",
    tlp: Annotated[
        str, typer.Option("--tlp", help="STIX marking: amber+strict (default), amber, red.")
    ] = "amber+strict",
) -> None:
    """Open findings (CSV, JSON) or observed vulnerabilities (STIX 2.1), streamed to a file."""
    # Lazy (start-up): the exports (the store, STIX) cost ~720 ms CPU.
    from utsyn.report.exports import export as stream
    from utsyn.report.scope import Caller, Scope, ScopeKind, portfolio_id
    from utsyn.store.db import open_session

    _ = words(lang)
    kinds: dict[str, ScopeKind] = {"org": "org", "portfolio": "portfolio", "national": "national"}
    if scope not in kinds:
        raise ConfigError("unknown scope %(scope)r: org, portfolio or national", scope=scope)
    kind = kinds[scope]
    with open_session() as session:
        pid = None
        if kind == "portfolio":
            if portfolio is None:
                raise ConfigError("--scope portfolio needs --portfolio NAME")
            pid = int(portfolio) if portfolio.isdigit() else portfolio_id(session, portfolio)
        chunks = stream(
            session, Scope(kind, org, pid), Caller(OPERATOR_ROLE), fmt, lang=lang, tlp=tlp
        )
        with _open(output) as out:
            for chunk in chunks:
                out.write(chunk)
    done = _("%(scope)s export (%(format)s)", scope=scope, format=fmt)
    typer.echo(f"{output}: {done}")


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError("--since %(text)r is not a date (YYYY-MM-DD)", text=text) from exc


def _write(path: Path, data: bytes) -> None:
    try:
        write_private(path, data)  # 0600: a report names an organisation's weaknesses
    except OSError as exc:
        raise ConfigError(
            "%(path)s: cannot write (%(reason)s)", path=path, reason=os_reason(exc)
        ) from exc


def _open(path: Path) -> TextIO:
    try:
        # Line ends as the CSV writer chose them (CRLF, RFC 4180); 0600, as the PDF.
        return open_private_text(path)
    except OSError as exc:
        raise ConfigError(
            "%(path)s: cannot write (%(reason)s)", path=path, reason=os_reason(exc)
        ) from exc
