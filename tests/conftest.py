"""Shared fixtures: the bundled real sample built into a store once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from scholarlens.analytics.build import analyse
from scholarlens.pipeline import ingest
from scholarlens.store import connect

SAMPLE = Path(__file__).resolve().parents[1] / "src" / "scholarlens" / "sample"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory) -> Path:
    """A store built from the whole bundled sample, as `scholarlens demo` builds it."""
    path = tmp_path_factory.mktemp("store") / "sample.duckdb"
    con = connect(path)
    ingest(con, [SAMPLE])
    analyse(con)
    con.close()
    return path


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
