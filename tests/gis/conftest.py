"""Fixtures for the pure-geometry tests: where the shared real data lives."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """shared/data sits beside the repository clone (locally and in CI), not inside it."""
    repo_root = Path(__file__).resolve().parents[2]
    return repo_root.parent / "shared" / "data"
