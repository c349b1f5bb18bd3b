"""One error hierarchy whose messages a user can act on, in the user's language.

An error carries a message id (English, with `%(name)s` placeholders) and the values to fill
in, as gettext wants them: `ConfigError("no organisation %(orgnr)s", orgnr=orgnr)`. `str()`
gives the English text (logs, tests); where the error is shown to a user — the CLI's `main`,
the web's problem handler — `utsyn.i18n.error_text` translates the id from the catalogues
and then fills in the values; a value that is itself an error (a wrapped cause) is
translated too. So a message id is a literal, never an f-string: `tests/test_error_words.py`
reads every raise in `src/` and fails on an id that is not a literal or whose placeholders
lack their values, `tests/web/test_i18n.py` on an id the catalogues lack or leave
untranslated. Only the scanner's errors whose text is stored as evidence, never shown as a
word of the interface, stay English (listed with their reason in `tests/words.py`).

The CLI maps each class to an exit code and prints the message without a traceback.
"""

import errno


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


def os_reason(exc: OSError) -> UtsynError | str:
    """Why an operation on a path failed: the common reasons as messages the user's language
    has (the operating system's `strerror` is English), any other as the system says it."""
    if exc.errno == errno.EISDIR:
        return UtsynError("it is a directory")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return UtsynError("permission denied")
    if exc.errno == errno.ENOENT:
        return UtsynError("no such file or directory")
    return exc.strerror or str(exc)
