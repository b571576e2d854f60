"""Every runnable example in docs/integrations.md and docs/sweeps.md, run as a reader would run it
(files written, scripts and commands executed in a fresh directory) against the real write path,
then checked in the store: a page whose example breaks fails here, not in a user's terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.literate import Section, sections
from tests.pipeline import Pipeline

pytestmark = pytest.mark.integration

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ("integrations.md", "sweeps.md")


def _examples() -> list[Section]:
    return [s for page in PAGES for s in sections(DOCS / page) if s.runnable]


def _project(section: Section) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", section.title.lower()).strip("-")
    return f"doc-{Path(section.page).stem}-{slug}"[:60].rstrip("-")


@pytest.mark.parametrize("page", PAGES)
def test_every_page_has_runnable_examples(page: str) -> None:
    runnable = [s for s in sections(DOCS / page) if s.runnable]
    assert len(runnable) >= 2, f"docs/{page} has {len(runnable)} runnable sections"


@pytest.mark.parametrize("section", _examples(), ids=lambda s: f"{s.page}:{s.title}")
def test_the_example_runs_and_records_runs(
    section: Section, pipeline: Pipeline, tmp_path: Path
) -> None:
    project = _project(section)
    env = {
        **os.environ,
        **pipeline.env(tmp_path, project),
        # `python` and `cairn` in the examples are this test's interpreter and console script.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        # Examples that read back through query/ connect here (as the portal would).
        "CAIRN_CLICKHOUSE_URL": pipeline.url,
        "HF_HUB_OFFLINE": "1",
        "KERAS_BACKEND": "torch",
    }
    work = tmp_path / "example"
    work.mkdir()
    for n, block in enumerate(section.blocks):
        if block.file is not None:
            target = work / block.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text, encoding="utf-8")
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
            command, cwd=work, env=env, capture_output=True, text=True, timeout=240
        )
        assert done.returncode == 0, (
            f"docs/{section.page}:{block.line} ({section.title}) exited {done.returncode}\n"
            f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
        )
    assert pipeline.wait_for_runs(project=project, count=1, status="finished")
