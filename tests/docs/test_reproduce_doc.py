"""docs/reproduce.md, run as a reader would run it: every section in a fresh directory against
the real write path and the query service (ingest serves it in the pipeline), ``cairn`` and
``python`` being this test's console script and interpreter. The page's own commands assert
what the reader should see (the report's verdict, the override, the refusal)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.docs.literate import Section, run_blocks, sections
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reproduce.md"


def _examples() -> list[Section]:
    return [s for s in sections(PAGE) if s.runnable]


def test_the_page_has_its_runnable_examples() -> None:
    titles = [s.title for s in _examples()]
    assert titles == [
        'Reproduce a run and get "identical"',
        "Override a param, and have a changed dataset refused",
    ]


@pytest.mark.parametrize("section", _examples(), ids=lambda s: s.title)
def test_the_example_runs_as_written(section: Section, pipeline: Pipeline, tmp_path: Path) -> None:
    env = {
        **os.environ,
        **pipeline.env(tmp_path, "doc-reproduce"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    work = tmp_path / "example"
    work.mkdir()
    run_blocks(section, work, env)
