"""SSH (`scan.ssh`): how one logs in, and the algorithms offered."""

from __future__ import annotations

import re
from collections.abc import Iterator

from utsyn.rules.outcomes.model import Hit, Outcome
from utsyn.rules.outcomes.view import TargetView, hit

# A `none` login answered with one of these lets anyone guess passwords: keyboard-interactive
# is PAM's password prompt unless a first factor (publickey) is required before it.
_SSH_PASSWORD_METHODS = frozenset({"password", "keyboard-interactive"})
_SSH_WEAK_LISTS = {
    "ssh.kex.weak": Outcome.SSH_WEAK_KEX,
    "ssh.kex.sha1": Outcome.SSH_SHA1_KEX,
    "ssh.host_key.weak": Outcome.SSH_WEAK_HOST_KEY,
    "ssh.cipher.weak": Outcome.SSH_WEAK_CIPHERS,
}
SSH_RSA_MIN_BITS = 2048  # NIST SP 800-131A Rev. 2: RSA under 2048 bits is disallowed
_KEY_BITS = re.compile(r"^(rsa|dsa)(\d+)$")


def weak_ssh_key(kind: str) -> bool:
    """ "dsa1024", "rsa1024": DSA keys, and RSA keys under 2048 bits."""
    match = _KEY_BITS.match(kind)
    return match is not None and (match[1] == "dsa" or int(match[2]) < SSH_RSA_MIN_BITS)


def ssh_login(view: TargetView) -> Iterator[Hit]:
    for asset, o in view.assets_with("ssh.auth_methods"):
        methods = set(o.value) if isinstance(o.value, list) else set()
        password = bool(methods & _SSH_PASSWORD_METHODS)
        yield hit(Outcome.SSH_PASSWORD_LOGIN if password else Outcome.SSH_KEY_LOGIN_ONLY, asset, o)


def ssh_algorithms(view: TargetView) -> Iterator[Hit]:
    for asset, checks in view.assets.items():
        found = {
            outcome: checks[check]
            for check, outcome in _SSH_WEAK_LISTS.items()
            if check in checks and checks[check].value
        }
        key = checks.get("ssh.host_key")
        if key is not None and weak_ssh_key(str(key.value)):
            found.setdefault(Outcome.SSH_WEAK_HOST_KEY, key)
        for outcome, o in found.items():
            yield hit(outcome, asset, o)
        if not found and "ssh.kex.weak" in checks:
            yield hit(Outcome.SSH_ALGORITHMS_OK, asset, checks["ssh.kex.weak"])
