"""CSV files people open in a spreadsheet: cells that stay data, files that are whole or not there.

Why: a reported text starting with = + - @ (or a tab/CR) is run as a formula by Excel and LibreOffice
(CSV injection); exports of user-supplied text must show it, never execute it. And a file someone opens
must never be the half written by a run that failed or was stopped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: formula-like text gets a leading ' (numbers stay numbers);
    a yes/no is true or false, as in the JSON and GeoJSON of the same data (Python would write True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


@contextmanager
def replaced_on_success(path: Path, encoding: str = "utf-8-sig") -> Iterator[IO[str]]:
    """A text file written beside `path` that becomes `path` only when the block ends without an error: a
    refused import (not UTF-8, a missing column) leaves no report, an interrupted export no half file, and
    an earlier run's file stays as it was. The file aside is named for this process (two runs writing the
    same file do not write into one another's) and created like any file, with the user's umask."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with partial.open("w", encoding=encoding, newline="") as out:
            yield out
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)

