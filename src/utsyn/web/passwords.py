"""The password policy: long enough, not a common password, and hard to guess by strength
estimation, with a reason a user can act on when it is refused.

1. At least `MIN_PASSWORD_LENGTH` (12) characters.
2. Not one of the 30,000 most common passwords: zxcvbn's list (from Mark Burnett's ten
   million leaked passwords; the `zxcvbn` package ships it, see NOTICE), compared without
   regard to case.
3. zxcvbn's estimate at least `MIN_SCORE` (4 of 4: "very unguessable", 10¹⁰ guesses or
   more; score 3, 10⁸, still let through `Sommer2024!!` and a password made of the user's
   own e-mail address), with the account's e-mail address, the name Utsyn and common Norwegian
   password words as words an attacker tries first. Only the first `ESTIMATED_LENGTH`
   characters are estimated (zxcvbn's limit; its time grows with the length).

Used by `utsyn users add`, the password reset page and wherever a password is set.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import zxcvbn
from zxcvbn.matching import RANKED_DICTIONARIES

from utsyn.errors import ConfigError

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024
MIN_SCORE = 4
ESTIMATED_LENGTH = 72
# What a Norwegian user reaches for first (our own list): zxcvbn's dictionaries are English.
NORWEGIAN_WORDS = (
    "passord", "hemmelig", "velkommen", "sommer", "vinter", "høst", "vår", "januar",
    "februar", "mars", "april", "mai", "juni", "juli", "august", "september", "oktober",
    "november", "desember", "norge", "noreg", "oslo", "bergen", "trondheim", "stavanger",
    "tromsø", "kristiansand", "kommune", "fylke", "fylkeskommune", "staten", "direktoratet",
    "jegelskerdeg", "kjæreste", "mamma", "pappa", "fotball", "rosenborg", "brann", "vålerenga",
    "utsyn", "admin", "administrator", "bruker",
)  # fmt: skip

# zxcvbn keeps the caller's words in a module-level dictionary: one estimate at a time.
_lock = threading.Lock()


def check_password(password: str, email: str = "") -> None:
    """Raise a `ConfigError` saying why `password` is refused; nothing when it is good."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            "A password has at least %(length)s characters.", length=MIN_PASSWORD_LENGTH
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ConfigError(
            "A password has at most %(length)s characters.", length=MAX_PASSWORD_LENGTH
        )
    if password.lower() in RANKED_DICTIONARIES["passwords"]:
        raise ConfigError("This password is one of the most common passwords.")
    words = [*NORWEGIAN_WORDS, *re.split(r"[@.+_-]+", email.lower()), email.lower()]
    with _lock:
        result: dict[str, Any] = zxcvbn.zxcvbn(
            password[:ESTIMATED_LENGTH], user_inputs=[w for w in words if w]
        )
    if result["score"] < MIN_SCORE:
        _refuse(_weakest(result["sequence"]))


def _weakest(sequence: list[dict[str, Any]]) -> str:
    """The kind of the longest guessable part (zxcvbn's own feedback picks it the same way)."""
    guessable = [m for m in sequence if m["pattern"] != "bruteforce"]
    if not guessable:
        return "bruteforce"
    return str(max(guessable, key=lambda m: len(m["token"]))["pattern"])


def _refuse(pattern: str) -> None:
    if pattern == "dictionary":
        raise ConfigError("This password is too easy to guess: it is built on common words.")
    if pattern == "repeat":
        raise ConfigError("This password is too easy to guess: it repeats characters or words.")
    if pattern == "sequence":
        raise ConfigError("This password is too easy to guess: it is a sequence like abc or 6543.")
    if pattern == "spatial":
        raise ConfigError("This password is too easy to guess: it follows the keyboard.")
    if pattern in ("date", "regex"):
        raise ConfigError("This password is too easy to guess: it is built on a date or a year.")
    raise ConfigError("This password is too easy to guess: use three or four unrelated words.")
