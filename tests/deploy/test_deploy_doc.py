"""docs/deploy.md's runnable blocks, executed from the repository root in page order (literate
convention of tests/docs/literate.py; blocks marked no-run need Docker or Kubernetes).

The cluster profile's section starts a whole stack: tests/cluster/test_profile.py runs it on
private ports and a private home (never the defaults of this shared machine), in `make
test-cluster`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.deploy.tools import REPO, tools
from tests.docs.literate import Section, run_blocks, sections

PAGE = REPO / "docs" / "deploy.md"
PROFILE_SECTION = "The cluster profile on one machine"  # run by tests/cluster/test_profile.py
pytestmark = pytest.mark.integration


def test_the_page_has_runnable_and_shown_only_sections() -> None:
    found = sections(PAGE)
    assert sum(s.runnable for s in found) >= 2
    shown = [b for s in found for b in s.blocks if b.shown_only]
    assert len(shown) >= 2


@pytest.mark.parametrize(
    "section",
    [s for s in sections(PAGE) if s.runnable and s.title != PROFILE_SECTION],
    ids=lambda s: s.title,
)
def test_the_section_runs(section: Section) -> None:
    tools()  # installed once, as the page's first block does
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run_blocks(section, REPO, env)
