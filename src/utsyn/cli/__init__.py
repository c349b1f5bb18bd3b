"""The `utsyn` command: the Typer app, where each command group is mounted, and `main`.

One module per command group beside this one: `lab`, `scan`, `demo`, `rating`, `db`,
`orgs`, `footprint`, `portfolio` (and `national`), `report`, `feeds`, `web` (`serve`),
`users`, `worker` (and `scheduler`); `options` and `output` hold what they share. Every
word a command prints comes from the catalogues in the language of its `--lang` (else of
the environment's `UTSYN_LANG`, else bokmål; see `output`), and so do its error messages
(`main`) and its help texts: `main` translates every command's, option's and argument's
help before click reads them, in the language of a `--lang` anywhere on the command line.

Start-up: every command module is imported to build the app, so `utsyn --help` and
`utsyn version` pay for their module-level imports. Those are only what is cheap (the
standard library, typer, rich, and of Utsyn `errors`, `i18n`, `clock`, `geo`, `scan.model`,
`scan.output`, `worker.logs`); whatever costs more than ~50 ms of CPU is imported
inside the command that needs it, with its measured cost in a comment (CPU time of a fresh
interpreter importing the module over what the CLI imports anyway, min of 5 runs): the
settings ~180 ms, the scanner ~60–110 ms, the rulebook and the scoring ~80–150 ms, the lab
~90–420 ms, sqlalchemy with alembic and the store ~600 ms, the pipeline ~900 ms, celery
~230 ms, the web application ~1,900 ms. So `utsyn version` and `utsyn --help` take ~280 ms
of CPU (median of 11), ~40 ms of it babel and the catalogue, which every command needs for
its help texts; with every import at module level they take ~2,700 ms.
`tests/cli/test_help.py` fails when the CLI's imports pull in one of the heavy libraries.
"""

from __future__ import annotations

import os
import sys

import typer
from rich.markup import escape
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

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
from utsyn.cli.output import Words, console, err_console, words
from utsyn.errors import UtsynError
from utsyn.i18n import error_text, language_or_default

app = typer.Typer(
    help="Utsyn: an open Cyber Risk Score service for the Norwegian public sector.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def main() -> None:
    """Entry point: the help texts in the language asked for; user errors become a message
    in that language and an exit code, never a traceback."""
    args = sys.argv[1:]
    lang = language_or_default(_asked_language(args) or os.environ.get("UTSYN_LANG"))
    command = typer.main.get_command(app)  # what `app()` runs, built afresh
    assert isinstance(command, TyperGroup)
    translate_help(command, words(lang))
    if "--help" in args:
        # The help's language is taken: a group without --lang (`utsyn lab --help --lang en`)
        # would refuse the option.
        args = _without_language(args)
    try:
        command(args)
    except UtsynError as exc:
        text = error_text(exc, lang)
        err_console.print(f"[bold red]utsyn:[/] {escape(text)}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)


def translate_help(command: TyperCommand | TyperGroup, _: Words) -> None:
    """Every help text of `command` and of the commands under it in one language: the
    command's own, its options' and arguments' (`--help` included), and the titles of the
    panels that list them. Click reads them only when it shows the help, so they are
    swapped before it runs; the app's own definitions keep the English message ids."""
    command.help = command.help and _(command.help)
    command.short_help = command.short_help and _(command.short_help)
    help_option = command.get_help_option(typer.Context(command))
    for param in [*command.params, help_option]:
        if isinstance(param, TyperOption | TyperArgument):
            param.help = param.help and _(param.help)
            param.rich_help_panel = (
                _("Arguments") if isinstance(param, TyperArgument) else _("Options")
            )
    for sub in command.commands.values() if isinstance(command, TyperGroup) else ():
        if isinstance(sub, TyperCommand | TyperGroup):
            sub.rich_help_panel = _("Commands")
            translate_help(sub, _)


def _without_language(args: list[str]) -> list[str]:
    """The command line without its `--lang X` or `--lang=X`."""
    kept: list[str] = []
    value_next = False
    for arg in args:
        if value_next:
            value_next = False
        elif arg == "--lang":
            value_next = True
        elif not arg.startswith("--lang="):
            kept.append(arg)
    return kept


def _asked_language(args: list[str]) -> str | None:
    """The `--lang` anywhere on the command line, read before click parses it: for the help
    texts, and for the error message of a command that failed before (or while) taking its
    options."""
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
