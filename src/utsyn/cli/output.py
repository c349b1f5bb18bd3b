"""What every command prints with: the two consoles, its words and the progress bar.

Every word a command prints comes from the catalogues (`utsyn.i18n`) in the language of its
`--lang` option: `_ = words(lang)`, then `_("Name")` or `_("%(rows)s rows", rows=3)`.
Values (names, numbers, identifiers such as rule ids and asset states) are printed as they are.
"""

from __future__ import annotations

from typing import Protocol

from rich.box import HEAVY_HEAD
from rich.console import Console, JustifyMethod
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from utsyn.i18n import FACTOR_NAMES, Translator, checked_language

console = Console()
err_console = Console(stderr=True)


class Words(Protocol):
    """gettext in one language: a message id, and its `%(name)s` placeholders' values."""

    def __call__(self, message: str, /, **variables: object) -> str: ...


def words(lang: str) -> Words:
    """The words of `--lang` (a ConfigError names the choices)."""
    return Translator(checked_language(lang)).gettext


def factor_name(_: Words, factor: str) -> str:
    """An area's (factor's) name, as the dashboard and the board summary name it."""
    return _(FACTOR_NAMES[factor]) if factor in FACTOR_NAMES else factor


def table(
    title: str | None, *columns: str, plain: bool = False, justify: JustifyMethod = "left"
) -> Table:
    """A table with these (translated) column headers; `plain`: without lines."""
    made = Table(title=title, box=None if plain else HEAVY_HEAD)
    for column in columns:
        made.add_column(column, justify=justify)
    return made


def yes(_: Words, value: bool) -> str:
    return _("yes") if value else ""


def progress_bar(err: Console, _: Words) -> Progress:
    """Scanning progress on standard error; off when it is not a terminal."""
    label = _("Scanning")
    columns = (
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    return Progress(*columns, console=err, disable=not err.is_terminal, transient=True)
