"""Every page of the documentation, run as a reader would run it.

README.md and every ``docs/*.md`` (globbed: a page someone adds is covered from then on) are read
with the literate convention of :mod:`tests.docs.literate`; each ``## `` section with runnable
blocks runs in a fresh directory against one real local stack: ``cairn up --demo`` with a
private home, discovery file and free ports (:func:`localstack.ephemeral.temporary_stack`), the
same stack for every page. Commands see only what a reader's shell would: the stack is found
through the local-stack file (no ``CAIRN_INGEST_URL``, no ClickHouse URL handed over), ``python``
and ``cairn`` are this checkout's. Outputs a page shows under a ``$`` command are checked.

Examples that need a framework (torch, Keras, Transformers, ...) run where it is installed
(``make test`` installs them all) and are skipped by name elsewhere.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from localstack import secrets as local_secrets
from localstack.ephemeral import RunningStack, cairn, temporary_stack
from localstack.settings import StackSettings
from query.client import connect
from tests.docs.literate import (
    SHOWN,
    Section,
    run_blocks,
    sections,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]
PAGES = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))
# Pages with a runner of their own (its own stack, fixtures or working directory): their sections
# run there, named here so they are not run twice; the block rules above still apply to them.
OWN_RUNNER = {
    "api.md": "tests/docs/test_api_doc.py",
    "reproduce.md": "tests/docs/test_reproduce_doc.py",
    "deploy.md": "tests/deploy/test_deploy_doc.py",
}
# Pages whose examples train: each of their runnable sections must record at least one run.
RECORDS_RUNS = ("integrations.md", "sweeps.md")
# Top-level imports that are optional frameworks, and the distribution that provides each.
FRAMEWORKS = {
    "torch": "torch",
    "lightning": "lightning",
    "keras": "keras",
    "transformers": "transformers",
    "sklearn": "scikit-learn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "tensorboard": "tensorboard",
    "optuna": "optuna",
    "mlflow": "mlflow",
    "pyarrow": "pyarrow",
}
_IMPORT = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_]\w*)", re.M)


def _all_sections() -> list[Section]:
    return [s for page in PAGES for s in sections(page)]


# README's "Your first run in five minutes" runs in test_your_first_run_in_five_minutes, which
# then opens the portal as the person the README says to sign in as.
FIRST_RUN = ("README.md", "Your first run in five minutes")


def _runnable() -> list[Section]:
    return [
        s
        for s in _all_sections()
        if s.runnable and (s.page, s.title) != FIRST_RUN and s.page not in OWN_RUNNER
    ]


def test_pages_with_their_own_runner_have_it() -> None:
    for page, runner in OWN_RUNNER.items():
        assert (REPO / "docs" / page).exists(), page
        assert page in (REPO / runner).read_text(), f"{runner} does not run docs/{page}"


def _id(section: Section) -> str:
    return f"{section.page}:{section.title}"


def test_every_block_runs_or_says_why_not() -> None:
    """No block is skipped silently: each runs, is written to a file, is in a display language,
    or is marked ``<!-- no-run: REASON -->``."""
    unexplained = [
        f"{s.page}:{b.line} ({b.language or 'no language'})"
        for s in _all_sections()
        for b in s.blocks
        if not b.runs
        and b.file is None
        and not (b.shown_only and b.reason)
        and b.language not in SHOWN
    ]
    assert not unexplained, "blocks that neither run nor say why:\n" + "\n".join(unexplained)


def test_the_pages_are_found() -> None:
    names = {p.name for p in PAGES}
    assert {"README.md", "sdk.md", "sql.md", "integrations.md", "sweeps.md"} <= names


@pytest.fixture(scope="module")
def docs_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    home = tmp_path_factory.mktemp("docs-stack")
    with temporary_stack(home / "cairn") as stack:
        demo = cairn(stack.env, "up", "--demo", timeout=600)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        yield stack


def _runs(stack: RunningStack) -> int:
    client = connect(stack.admin_clickhouse_url)
    return int(client.query("SELECT count() FROM runs").result_rows[0][0])


def _reader_env(stack: RunningStack, work: Path) -> dict[str, str]:
    env = {k: v for k, v in stack.env.items() if k != "CAIRN_DEBUG"}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        # Spools and sweep journals of the examples stay in this test's directory.
        CAIRN_DIR=str(work.parent / "cairn-dir"),
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(REPO),
    )
    env.pop("KERAS_BACKEND", None)  # the Keras example must say which backend it needs
    return env


def _missing_frameworks(section: Section) -> list[str]:
    names = {m for b in section.blocks if b.runs or b.file for m in _IMPORT.findall(b.text)}
    return sorted(
        FRAMEWORKS[n] for n in names if n in FRAMEWORKS and importlib.util.find_spec(n) is None
    )


def run_section(section: Section, stack: RunningStack, tmp_path: Path) -> None:
    """Every block of ``section`` in page order, in a fresh directory, as a reader runs them."""
    missing = _missing_frameworks(section)
    if missing:
        pytest.skip(f"{_id(section)} needs {', '.join(missing)} (make test installs it)")
    work = tmp_path / "example"
    work.mkdir()
    env = _reader_env(stack, work)
    before = _runs(stack) if section.page in RECORDS_RUNS else 0
    run_blocks(section, work, env)
    if section.page in RECORDS_RUNS:
        deadline = time.monotonic() + 90
        while _runs(stack) <= before:
            assert time.monotonic() < deadline, f"{_id(section)} recorded no run"
            time.sleep(0.5)


@pytest.mark.timeout(900)  # a framework example trains a (tiny) model on a shared machine
@pytest.mark.parametrize("section", _runnable(), ids=_id)
def test_the_section_runs_as_written(
    section: Section, docs_stack: RunningStack, tmp_path: Path
) -> None:
    run_section(section, docs_stack, tmp_path)


@pytest.mark.timeout(600)
def test_your_first_run_in_five_minutes(docs_stack: RunningStack, tmp_path: Path) -> None:
    """README: the stack, the 15-line script, one `cairn sql` query (output checked), then the
    portal as alice (the person the README names) shows the run, without Streamlit's developer
    chrome (no Deploy button, no developer menu entries)."""
    from tests.ui.browser import chromium, new_page, sign_in, wait_idle

    (section,) = [s for s in sections(REPO / "README.md") if (s.page, s.title) == FIRST_RUN]
    script = next(b for b in section.blocks if b.file == "train.py")
    assert len(script.text.strip().splitlines()) <= 15, "the README promises a ~15-line script"
    run_section(section, docs_stack, tmp_path)
    (run_id,) = [
        r[0]
        for r in connect(docs_stack.admin_clickhouse_url)
        .query("SELECT run_id FROM runs WHERE project = 'quickstart' AND name = 'first-run'")
        .result_rows
    ]
    portal = docs_stack.discovery["portal_url"]
    with chromium() as browser:
        page = new_page(browser)
        # A portal's first page load after start-up is slow on a busy machine; later ones not.
        page.set_default_timeout(120_000)
        sign_in(page, portal, "alice", "cairn-demo", path=f"run?id={run_id}")
        wait_idle(page)
        page.get_by_text("first-run").first.wait_for()
        assert page.get_by_role("button", name="Deploy").count() == 0
        assert page.locator('[data-testid="stAppDeployButton"]').count() == 0
        menu = page.locator('[data-testid="stMainMenu"]')
        if menu.count():
            menu.first.click()
            items = page.locator('[data-testid="stMainMenuList"]').inner_text()
            # A viewer's menu keeps Print, Record screen and the theme; not the developer's items.
            for developer_item in ("Rerun", "Clear cache", "Deploy", "Developer"):
                assert developer_item not in items, items


def _worked_queries() -> dict[int, str]:
    text = (REPO / "docs" / "sql.md").read_text().split("## Ten reporting queries", 1)[1]
    found = re.findall(r"^### (\d+)\. [^\n]+\n.*?```sql\n(.*?)```", text, flags=re.M | re.S)
    return {int(number): sql for number, sql in found}


def test_the_worked_queries_answer_on_the_demo(docs_stack: RunningStack) -> None:
    """docs/sql.md's queries 1, 2, 6 and 10 have answers on the demo data, and query 10 (who did
    what) names the people who acted in the portal, not the portal's service key."""
    settings = StackSettings.from_env(docs_stack.env)
    secrets = local_secrets.load(settings.secrets_path)
    assert secrets is not None
    reporting = connect(settings.reporting_clickhouse_url(secrets))
    queries = _worked_queries()
    answers = {n: reporting.query(queries[n]).result_rows for n in (1, 2, 6, 10)}
    assert all(answers.values()), {n: len(rows) for n, rows in answers.items()}
    actors = {row[0] for row in answers[10]}
    assert {"alice", "bob", "carol"} <= actors, actors
    assert not any(actor.startswith(("portal", "demo-seed", "local-admin")) for actor in actors)


def test_cairn_status_and_sql_find_the_stack_from_any_directory(
    docs_stack: RunningStack, tmp_path: Path
) -> None:
    """Only the discovery file, as `cairn up` wrote it: no CAIRN_HOME, no port variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env["CAIRN_LOCAL_STACK_FILE"] = docs_stack.env["CAIRN_LOCAL_STACK_FILE"]
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    status = subprocess.run(
        [sys.executable, "-m", "cairn.cli", "status"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    assert "healthy" in status.stdout, status.stdout
    assert "stopped" not in status.stdout, status.stdout
    sql = subprocess.run(
        [
            sys.executable,
            "-m",
            "cairn.cli",
            "sql",
            "--all-teams",
            "SELECT count() > 0 FROM cairn_reporting.runs",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    answer = [line.strip() for line in sql.stdout.splitlines()[2:]]
    assert (sql.returncode, answer) == (0, ["1", "(1 row)"]), sql.stderr
