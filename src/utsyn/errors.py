"""One error hierarchy whose messages a user can act on.

The CLI maps each class to an exit code and prints the message without a traceback.
"""


class UtsynError(Exception):
    """Base class of every error Utsyn raises on purpose."""

    exit_code = 1


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
