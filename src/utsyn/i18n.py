"""Every interface word, in Norwegian bokmål (the default) and English complete.

The words live in one place: the gettext catalogues `locale/<lang>/LC_MESSAGES/messages.po`
beside this module (message ids in English). The web pages, the board summary and the
exports, and the command line all take their words from them; `tests/web/test_i18n.py`
fails on a message in use that a catalogue lacks or leaves untranslated. The catalogues are
compiled in memory when first used, so a source checkout or an editable install needs no
build step and a .mo file can never be stale. Rule titles, descriptions and remediation come
from the rulebook's own nb/en texts, not from here.

Which language a web request gets is the web's business (`utsyn.web.i18n`); the command line
takes `--lang`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Literal

from utsyn.errors import ConfigError, UtsynError

if TYPE_CHECKING:
    from babel.support import Translations

Language = Literal["nb", "en"]
LANGUAGES: tuple[Language, ...] = ("nb", "en")
DEFAULT_LANGUAGE: Language = "nb"


def N_(message: str) -> str:
    """Mark a message for the catalogues (gettext's "mark only" convention); it is
    translated later, where it is shown."""
    return message


def catalogue_path(lang: Language) -> str:
    """The catalogue of `lang`, relative to the `utsyn` package."""
    return f"locale/{lang}/LC_MESSAGES/messages.po"


@cache
def translations(lang: Language) -> Translations:
    """The compiled catalogue of one language (compiled once per process)."""
    # Imported here: babel costs ~75 ms CPU, which `utsyn --help` and `utsyn version` skip.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import Translations

    with files("utsyn").joinpath(catalogue_path(lang)).open("rb") as po:
        catalog = read_po(po, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


@dataclass(frozen=True)
class Translator:
    """gettext for one language, for Python code (templates get `_` from their environment);
    `%(name)s` placeholders are filled from keywords."""

    lang: Language

    def gettext(self, message: str, /, **variables: object) -> str:
        text: str = translations(self.lang).gettext(message)
        return text % variables if variables else text


def error_text(error: UtsynError, lang: Language) -> str:
    """An error's message in `lang`: its message id translated, then its values filled in
    (an id the catalogue lacks stays English rather than failing)."""
    return Translator(lang).gettext(error.message, **error_values(error, lang))


def error_values(error: UtsynError, lang: Language) -> dict[str, object]:
    """An error's values to fill into its message in `lang`: a value that is itself an
    error (the cause, wrapped: "DNS lookup failed: %(reason)s") is translated too."""
    return {
        name: error_text(value, lang) if isinstance(value, UtsynError) else value
        for name, value in error.values.items()
    }


def language_or_default(lang: str | None) -> Language:
    """`lang` if it is a language we have, else the default (for showing an error that may
    itself be about the language asked for)."""
    return next((known for known in LANGUAGES if known == lang), DEFAULT_LANGUAGE)


def checked_language(lang: str) -> Language:
    """A `--lang` value as a language we have, or a ConfigError naming the choices."""
    for known in LANGUAGES:
        if lang == known:
            return known
    raise ConfigError("unknown language %(lang)r: use nb or en", lang=lang)


# ------------------------------------------------------------------ shared names
# One name per factor, severity and sector on every interface (translate where shown).

FACTOR_NAMES = {
    "tls": N_("Encryption (TLS)"),
    "web": N_("Websites"),
    "email": N_("E-mail security"),
    "dns": N_("DNS"),
    "network": N_("Exposed services"),
    "vulnerabilities": N_("Known vulnerabilities"),
    "leakage": N_("Information leakage"),
}
SEVERITY_NAMES = {
    "critical": N_("Critical"),
    "high": N_("High"),
    "medium": N_("Medium"),
    "low": N_("Low"),
    "info": N_("Info"),
}
# How much work a fix usually takes (`rules.rulebook.Effort`), as the action plan says it.
EFFORT_NAMES = {
    "small": N_("Small effort: a setting, a record or a certificate"),
    "medium": N_("Medium effort: an update or a planned change"),
    "large": N_("Large effort: a project"),
}
# The store's coarse sectors (store.importer.SECTOR_BY_FORM, pipeline._sector).
SECTOR_NAMES = {
    "state": N_("Central government"),
    "county": N_("County authorities"),
    "municipal": N_("Municipal sector"),
    "other": N_("Other public bodies"),
}


def name_of(names: dict[str, str], key: str, lang: Language) -> str:
    """`key`'s translated name from one of the tables above; an unknown key as it is."""
    return Translator(lang).gettext(names[key]) if key in names else key
