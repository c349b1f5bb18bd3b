"""One error hierarchy whose messages a user can act on, in the user's language.

An error carries a message id (English, with `%(name)s` placeholders) and the values to fill
in, as gettext wants them: `ConfigError("no organisation %(orgnr)s", orgnr=orgnr)`. `str()`
gives the English text (logs, tests); where the error is shown to a user — the CLI's `main`,
the web's problem handler — `utsyn.i18n.error_text` translates the id from the catalogues
and then fills in the values. So a message id is a literal, never an f-string:
`tests/test_error_words.py` reads every raise in `src/` and fails on an f-string id or on an
id the catalogues lack or leave untranslated.

The CLI maps each class to an exit code and prints the message without a traceback.
"""


class UtsynError(Exception):
    """Base class of every error Utsyn raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, /, **values: object) -> None:
        self.message = message
        self.values = values
        super().__init__(message % values if values else message)


class ConfigError(UtsynError):
    """A setting, a file or an argument is wrong."""

    exit_code = 2


class ManifestError(ConfigError):
    """A lab manifest does not validate; the message names the file and the field."""


class LabError(UtsynError):
    """The lab could not start, or is not running when it should be."""

    exit_code = 3


class ScopeError(UtsynError):
    """A connection was refused by the scope guard."""

    exit_code = 4
