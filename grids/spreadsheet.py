"""Files people open in a spreadsheet: cells that stay data, files that are whole or not there.

Why: a reported text starting with = + - @ (or a tab/CR) is run as a formula by Excel and LibreOffice
(CSV injection); exports of user-supplied text must show it, never execute it. A CSV cannot say a cell is
text, so Excel turns a 15-digit grid code into 3.30781E+14 and rounds a 16-digit 工单编号: the workbook
(XlsxWriter, streamed) types every cell. And a file someone opens must never be the half written by a run
that failed or was stopped.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import xlsxwriter

from grids.errors import Invalid

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
XLSX_MAX_ROWS = 1_048_576  # a worksheet's rows, the header's included
XLSX_TIME_FORMAT = "yyyy-mm-dd hh:mm"
XLSX_COLUMN_WIDTH = 16  # characters: a date with its time, a 15-digit grid code


def safe_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: formula-like text gets a leading ' (numbers stay numbers);
    a yes/no is true or false, as in the JSON and GeoJSON of the same data (Python would write True)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


@contextmanager
def replaced_on_success(path: Path, encoding: str | None = "utf-8-sig") -> Iterator[IO[Any]]:
    """A text file written beside `path` that becomes `path` only when the block ends without an error: a
    refused import (not UTF-8, a missing column) leaves no report, an interrupted export no half file, and
    an earlier run's file stays as it was. The file aside is named for this process (two runs writing the
    same file do not write into one another's) and created like any file, with the user's umask; a file that
    was there keeps its permissions, and a symbolic link its target, which is the file replaced. A device or
    a pipe (/dev/stdout, a FIFO: see _stream) is written straight into: replacing it made /dev/full a plain
    file. Without an encoding the file is binary (a workbook)."""
    if _stream(path):
        with _opened(path, encoding, "a") as out:  # "w" would truncate the file behind a redirected /dev/stdout
            yield out
        return
    target = path.resolve()
    mode = stat.S_IMODE(target.stat().st_mode) if target.exists() else None
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with _opened(partial, encoding) as out:
            yield out
        if mode is not None:
            partial.chmod(mode)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def _stream(path: Path) -> bool:
    """A device, a pipe, or a path under /dev or /proc (/dev/stdout redirected to a file is a regular file whose
    resolved path is the shell's target: renamed over, `>> all.csv` lost what it held)."""
    return path.absolute().parts[1:2] in (("dev",), ("proc",)) or (path.exists() and not path.is_file())


def _opened(path: Path, encoding: str | None, mode: str = "w") -> IO[Any]:
    return path.open(mode + "b") if encoding is None else path.open(mode, encoding=encoding, newline="")



def write_xlsx(out: IO[bytes], columns: Sequence[str], rows: Iterable[Mapping[str, Any]], title: str,
               headings: Mapping[str, str] | None = None) -> int:
    """Rows as a one-sheet workbook, each cell typed by its value: text stays text (codes keep every digit,
    nothing is run as a formula), numbers are numbers, times are date cells in the rows' own zone (Excel has
    none) that sort and filter; the header stays in view with a filter on it. Streamed row by row
    (constant_memory), so memory stays flat. More rows than a sheet holds: Invalid, nothing written.

    `headings`: a column's words for the people who open the file (案件编号), shown above its code (id), which
    stays for whoever reads the file by program or compares it with the CSV."""
    book = xlsxwriter.Workbook(out, {"constant_memory": True, "remove_timezone": True})
    sheet = book.add_worksheet(title)
    when = book.add_format({"num_format": XLSX_TIME_FORMAT})
    header = book.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    worded = [f"{headings[name]}\n{name}" if headings and name in headings else name for name in columns]
    sheet.set_row(0, 30 if headings else None)  # two lines: the words, then the code
    sheet.set_column(0, len(columns) - 1, XLSX_COLUMN_WIDTH)
    sheet.write_row(0, 0, worded, header)
    sheet.freeze_panes(1, 0)
    count = 0
    try:
        for count, row in enumerate(rows, start=1):
            if count == XLSX_MAX_ROWS:
                raise Invalid(f"more than {XLSX_MAX_ROWS - 1:,} rows do not fit in one Excel sheet; narrow the "
                              "filters or export CSV", code="too_many_rows", details={"max": XLSX_MAX_ROWS - 1})
            for col, name in enumerate(columns):
                _write_cell(sheet, count, col, row[name], when)
        sheet.autofilter(0, 0, count, len(columns) - 1)
    finally:
        book.close()  # its temporary files go; on an error the caller drops what was written
    return count


def _write_cell(sheet: Any, row: int, col: int, value: Any, when: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        sheet.write_boolean(row, col, value)
    elif isinstance(value, int | float):
        sheet.write_number(row, col, value)
    elif isinstance(value, datetime):
        sheet.write_datetime(row, col, value, when)
    else:
        sheet.write_string(row, col, str(value))
