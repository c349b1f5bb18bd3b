"""The `utsyn` command: the Typer app, where each command group is mounted, and `main`.

One module per command group beside this one: `lab`, `scan`, `demo`, `rating`, `db`,
`orgs`, `footprint`, `portfolio` (and `national`), `report`, `feeds`, `web` (`serve`),
`users`, `worker` (and `scheduler`); `options` and `output` hold what they share. Every
word a command prints comes from the catalogues in the language of its `--lang` (see
`output`); the help texts of the options and commands are English.

Start-up: every command module is imported to build the app, so `utsyn --help` and
`utsyn version` pay for their module-level imports. Those are only what is cheap (the
standard library, typer, rich, and of Utsyn `errors`, `i18n`, `clock`, `geo`, `scan.model`,
`scan.output`, `web.demo`, `worker.logs`); whatever costs more than ~50 ms of CPU is imported
inside the command that needs it, with its measured cost in a comment (CPU time of a fresh
interpreter importing the module over what the CLI imports anyway, min of 5 runs): the
settings ~180 ms, the scanner ~60–110 ms, the rulebook and the scoring ~80–150 ms, the lab
~90–420 ms, sqlalchemy with alembic and the store ~600 ms, the pipeline ~900 ms, celery
~230 ms, the web application ~1,900 ms. So `utsyn version` and `utsyn --help` take ~250 ms
(CPU and wall, median of 11); with every import at module level they take ~2,700 ms.
"""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

from utsyn import __version__
from utsyn.cli import (
    db,
    demo,
    feeds,
    footprint,
    lab,
    orgs,
    portfolio,
    rating,
    report,
    scan,
    users,
    web,
    worker,
)
from utsyn.cli.output import console, err_console
from utsyn.errors import UtsynError
from utsyn.i18n import error_text, language_or_default

app = typer.Typer(
    help="Utsyn: an open Cyber Risk Score service for the Norwegian public sector.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def main() -> None:
    """Entry point: user errors become a message and an exit code, never a traceback."""
    try:
        app()
    except UtsynError as exc:
        text = error_text(exc, language_or_default(_asked_language(sys.argv[1:])))
        err_console.print(f"[bold red]utsyn:[/] {escape(text)}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


def _asked_language(args: list[str]) -> str | None:
    """The `--lang` of the command line, read again for the error message: the command that
    failed may have failed before (or while) taking its options."""
    for i, arg in enumerate(args):
        if arg == "--lang" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--lang="):
            return arg.removeprefix("--lang=")
    return None


@app.command()
def version() -> None:
    """Print Utsyn's version."""
    console.print(__version__)


app.command("demo")(demo.demo)
app.command("scan")(scan.scan)
app.command("serve")(web.serve)
app.command("worker")(worker.worker)
app.command("scheduler")(worker.scheduler)
app.add_typer(lab.app, name="lab")
app.add_typer(rating.app, name="rating")
app.add_typer(db.app, name="db")
app.add_typer(orgs.app, name="orgs")
app.add_typer(footprint.app, name="footprint")
app.add_typer(portfolio.portfolio_app, name="portfolio")
app.add_typer(portfolio.national_app, name="national")
app.add_typer(report.app, name="report")
app.add_typer(feeds.app, name="feeds")
app.add_typer(users.app, name="users")
