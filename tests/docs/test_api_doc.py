"""Every runnable example in docs/api.md, run as a reader would (scripts and commands in a fresh
directory) against the real write path with the query service: a broken example fails here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.literate import Section, sections
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
    for n, block in enumerate(section.blocks):
        if block.file is not None:
            (work / block.file).write_text(block.text, encoding="utf-8")
            continue
        if not block.runs:
            continue
        if block.language == "python":
            script = work / f"example_{n}.py"
            script.write_text(block.text, encoding="utf-8")
            command = [sys.executable, str(script)]
        else:
            command = ["bash", "-euo", "pipefail", "-c", block.text]
        done = subprocess.run(
            command, cwd=work, env=env, capture_output=True, text=True, timeout=240, check=False
        )
        assert done.returncode == 0, (
            f"docs/api.md:{block.line} ({section.title}) exited {done.returncode}\n"
            f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
        )
