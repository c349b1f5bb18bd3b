"""What every command prints with: the two consoles, its words and the progress bar.

Every word a command prints comes from the catalogues (`utsyn.i18n`) in the language of its
`--lang` option: `_ = words(lang)`, then `_("Name")` or `_("%(rows)s rows", rows=3)`.
Values (names, identifiers such as rule ids and asset states) are printed as they are,
but for the characters that would drive the terminal or reorder the line (`utsyn.text.shown`):
the consoles remove them from every piece of text they render, whoever wrote it. Numbers
are written as the language writes them, through `_.number` (`format_number`): 62,6 and
1 234,5 in bokmål, 62.6 and 1,234.5 in English, with the web's decimals (one for scores).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from rich.box import HEAVY_HEAD
from rich.console import Console, ConsoleOptions, JustifyMethod, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.segment import Segment
from rich.table import Table

from utsyn.i18n import FACTOR_NAMES, Language, Translator, checked_language
from utsyn.text import shown


class SafeConsole(Console):
    """A console that shows text from outside harmlessly: an organisation's name with an ESC
    sequence or a U+202E in it (from an import, a banner, a page title) is printed without
    them. Rich's own colours and cursor moves are added after this, so they stay."""

    def render(
        self, renderable: RenderableType, options: ConsoleOptions | None = None
    ) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            text = segment.text if segment.control else shown(segment.text)
            yield segment if text is segment.text else Segment(text, segment.style)


console = SafeConsole()
err_console = SafeConsole(stderr=True)


class Words(Protocol):
    """gettext in one language: a message id, and its `%(name)s` placeholders' values;
    and the language's way of writing numbers."""

    def __call__(self, message: str, /, **variables: object) -> str: ...

    def number(self, value: float | None, digits: int = 1, *, signed: bool = False) -> str: ...


@dataclass(frozen=True, slots=True)
class _Words:
    lang: Language

    def __call__(self, message: str, /, **variables: object) -> str:
        return Translator(self.lang).gettext(message, **variables)

    def number(self, value: float | None, digits: int = 1, *, signed: bool = False) -> str:
        return format_number(value, self.lang, digits, signed=signed)


def words(lang: str) -> Words:
    """The words of `--lang` (a ConfigError names the choices)."""
    return _Words(checked_language(lang))


LOCALES: dict[Language, str] = {"nb": "nb_NO", "en": "en_GB"}


def format_number(
    value: float | None, lang: Language, digits: int = 1, *, signed: bool = False
) -> str:
    """`value` with `digits` decimals and grouped thousands as `lang` writes them (bokmål:
    a decimal comma and a no-break space between thousands); "–" for None.
    Scores have one decimal, as on the web and the board."""
    # Imported here: babel.numbers costs ~35 ms, which commands without numbers skip.
    from babel.numbers import format_decimal

    if value is None:
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    if signed:
        pattern = f"+{pattern};-{pattern}"
    return format_decimal(value, format=pattern, locale=LOCALES[lang])


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
