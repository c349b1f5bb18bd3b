"""Where the interface words beyond `_()` live, for the catalogue tests: the message ids of
the errors (`utsyn.errors`) and the command line's help texts. Kept here, not in `src/`, so
the product has no test-only code."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import typer

import utsyn
from utsyn.cli import app

PACKAGE = Path(utsyn.__file__).parent

# Errors of the scanner whose text is stored as an observation's evidence (a server's
# answer, what the scope guard refused), never shown as an interface word: they stay
# English, and may be built from f-strings. Every other UtsynError takes a literal message
# id in both catalogues.
ENGLISH_ONLY = {
    "HandshakeError": "a TLS server's unusable answer, stored as the probe's evidence",
    "MailProtocolError": "a mail server's refusal, stored as the probe's evidence",
    "ScopeRefused": "the scope guard's reason, stored as the refused connection's evidence",
}


@cache
def _modules() -> tuple[tuple[Path, ast.Module], ...]:
    return tuple((p, ast.parse(p.read_text("utf-8"))) for p in sorted(PACKAGE.rglob("*.py")))


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


@cache
def error_classes() -> frozenset[str]:
    """UtsynError and every class of the package that derives from it (by name: the
    package's class names are unique)."""
    bases = {
        node.name: {_name(base) for base in node.bases}
        for _, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    }
    found = {"UtsynError"}
    while more := {name for name, of in bases.items() if of & found} - found:
        found |= more
    return frozenset(found)


def error_calls() -> Iterator[tuple[str, ast.Call]]:
    """Every construction of an error class: where, and the call."""
    classes = error_classes()
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in classes:
                yield f"{path.relative_to(PACKAGE)}:{node.lineno}", node


def help_texts(command: Any = None) -> dict[str, str]:
    """Every help text of the command line (by default as Typer hands them to click, in
    English), by where it is shown: each command's and group's, each option's and
    argument's, `--help` included."""
    found: dict[str, str] = {}

    def walk(command: Any, path: str) -> None:
        for kind, text in (("help", command.help), ("short help", command.short_help)):
            if text:
                found[f"{path} ({kind})"] = text
        help_option = command.get_help_option(typer.Context(command))
        for param in [*command.params, help_option]:
            if getattr(param, "help", None):
                found[f"{path} {param.name}"] = param.help
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(command or typer.main.get_command(app), "utsyn")
    return found
