"""Text from outside in HTML, for the board summary (PDF) and the web pages alike.

Both Jinja environments pass every value they put in a page through `shown_value` (their
`finalize`) and write JSON with `shown_json` (their `tojson`): the control and
bidirectional-override characters of `utsyn.text` are removed from whatever is shown,
whether an organisation's name, a banner or a page title, whenever it was stored.
Escaping stays autoescaping's: markup already made safe stays markup.
"""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup

from utsyn.text import shown


def shown_value(value: Any) -> Any:
    """A template value as it may be shown (strings cleaned, other values as they are)."""
    if isinstance(value, Markup):
        return Markup(shown(str(value)))
    if isinstance(value, str):
        return shown(value)
    return value


def shown_json(value: Any, **options: Any) -> str:
    """`json.dumps` of `value` with every string in it cleaned (keys too)."""
    return json.dumps(_cleaned(value), **options)


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, dict):
        return {_cleaned(k): _cleaned(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cleaned(v) for v in value]
    return value
