"""CSV cells that stay data when a spreadsheet opens them.

Why: a reported text starting with = + - @ (or a tab/CR) is run as a formula by Excel and LibreOffice
(CSV injection); exports of user-supplied text must show it, never execute it.
"""

from __future__ import annotations

from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: formula-like text gets a leading ' (numbers stay numbers);
    a yes/no is true or false, as in the JSON and GeoJSON of the same data (Python would write True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value
