"""Every runnable example in docs/api.md, run as a reader would (scripts and commands in a fresh
directory) against the real write path with the query service: a broken example fails here."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.docs.literate import Section, run_blocks, sections
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

PAGE = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def _examples() -> list[Section]:
    return [s for s in sections(PAGE) if s.runnable]


def test_the_page_has_its_examples() -> None:
    titles = [s.title for s in _examples()]
    assert len(titles) == 3, titles


@pytest.mark.parametrize("section", _examples(), ids=lambda s: s.title)
def test_the_example_runs(section: Section, pipeline: Pipeline, tmp_path: Path) -> None:
    env = {
        **os.environ,
        **pipeline.env(tmp_path, "doc-api"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    work = tmp_path / "example"
    work.mkdir()
    run_blocks(section, work, env)
