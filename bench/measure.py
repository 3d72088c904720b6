"""What the benchmarks measure besides wall time, shared by bench/intake.py and bench/import.py."""

from __future__ import annotations

import os
from pathlib import Path


def process_cpu_seconds(pid: int | str) -> float:
    """CPU seconds (user + system) a local process has used so far, from Linux /proc: unlike wall time,
    hardly inflated when other work shares the cores."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
