"""The model registry's portal actions in headless Chromium, on the demo's stack: register a run's
artifact (from the Models page and from the run's Artifacts tab), move and remove an alias (a
reason is required; hostile text stays text), compare two versions, download one, and the Run
page's model versions built and used. Every write goes through ingest as the signed-in person;
what the page shows next is read back from the store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from query.access import Caller
from query.client import connect
from query.model_registry import alias_history, versions
from tests.ui.browser import exceptions, sign_in, wait_idle
from tests.ui.e2e.conftest import Portal

pytestmark = pytest.mark.e2e

PASSWORD = "cairn-demo"
DEMO_MODEL_BYTES = b'{"learner": "gbtree", "demo": true}\n' * 200  # churn-classifier v2
HOSTILE = '<img src=x onerror="window.__pwned = 1"> **bold** [x](javascript:window.__pwned=2)'
ADMIN = Caller("e2e", admin=True)


def _unique(prefix: str) -> str:
    return f"{prefix}-{time.time_ns() % 10**10}"


def _button(page: Page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()
    wait_idle(page, timeout=60)


def _unharmed(page: Page) -> None:
    assert page.evaluate("window.__pwned") is None
    assert not exceptions(page)


def test_registering_a_runs_artifact_from_the_models_page(page: Page, portal: Portal) -> None:
    run_id = portal.run_id("xgb-lr0.1-d6")
    name = _unique("e2e-registered")
    sign_in(page, portal.url, "alice", PASSWORD, "models")
    page.get_by_text("Register a version from a run's artifact").click()
    page.get_by_role("textbox", name="Run id").fill(run_id)
    page.get_by_role("textbox", name="Run id").press("Enter")
    wait_idle(page)
    page.get_by_role("textbox", name="Model name").fill(name)
    page.get_by_role("textbox", name="Version description").fill(HOSTILE)
    _button(page, "Register version")

    expect(page.get_by_text(f"Registered {name} v1.")).to_be_visible()
    assert f"model={name}" in page.url
    assert "version=1" in page.url
    [version] = versions(connect(portal.clickhouse_url), ADMIN, name)
    assert (version.version, version.run_id, version.artifact_name) == (1, run_id, "model.json")
    assert (version.team, version.project, version.created_by) == ("risk", "churn", "alice")
    assert version.description == HOSTILE  # kept as written, shown as text
    _unharmed(page)

    # An empty model name is refused by the form, naming the field; nothing is registered.
    if not page.get_by_role("textbox", name="Model name").is_visible():
        page.get_by_text("Register a version from a run's artifact").click()
    page.get_by_role("textbox", name="Model name").fill("  ")
    _button(page, "Register version")
    expect(page.get_by_text("Registering failed: name: name the model")).to_be_visible()


def test_moving_and_removing_an_alias_needs_a_reason_and_is_recorded(
    page: Page, portal: Portal
) -> None:
    alias = _unique("e2e-candidate")
    sign_in(page, portal.url, "alice", PASSWORD, "models?model=churn-classifier&version=1")
    page.get_by_role("textbox", name="Alias").fill(alias)
    _button(page, "Move alias")
    expect(page.get_by_text("Moving the alias failed: reason: say why")).to_be_visible()

    page.get_by_role("textbox", name="Alias").fill(alias)
    page.get_by_role("textbox", name="Reason").first.fill(f"shadow test {HOSTILE}")
    _button(page, "Move alias")
    expect(page.get_by_text(f"churn-classifier@{alias} now points to v1.")).to_be_visible()
    client = connect(portal.clickhouse_url)
    [v1] = [v for v in versions(client, ADMIN, "churn-classifier") if v.version == 1]
    assert alias in v1.aliases
    page.get_by_role("tab", name="Alias history").click()
    wait_idle(page)
    history = page.get_by_role("tabpanel", name="Alias history")
    expect(history.locator('[data-testid="stDataFrame"]')).to_be_visible()
    _unharmed(page)

    page.get_by_role("tab", name="Aliases").click()
    remove = page.locator('[data-testid="stForm"]', has_text="Remove an alias")
    remove.get_by_role("combobox").click()
    page.get_by_role("option", name=alias).click()
    remove.get_by_role("textbox", name="Reason").fill("shadow test over")
    _button(page, "Remove alias")
    expect(page.get_by_text(f"Removed churn-classifier@{alias}.")).to_be_visible()
    assert all(alias not in v.aliases for v in versions(client, ADMIN, "churn-classifier"))
    moves = [m for m in alias_history(client, ADMIN, "churn-classifier") if m.name == alias]
    assert [(m.version, m.removed, m.actor) for m in moves] == [
        (1, False, "alice"),
        (0, True, "alice"),
    ]
    assert moves[0].reason == f"shadow test {HOSTILE}"
    assert moves[1].reason == "shadow test over"
    _unharmed(page)


def test_comparing_two_versions_shows_how_their_runs_differ(page: Page, portal: Portal) -> None:
    sign_in(page, portal.url, "alice", PASSWORD, "models?model=churn-classifier")
    page.get_by_role("tab", name="Compare versions").click()
    wait_idle(page)
    panel = page.get_by_role("tabpanel", name="Compare versions")
    expect(panel.get_by_text("Params:")).to_be_visible()
    expect(panel.get_by_text("Metrics (last values)")).to_be_visible()
    expect(
        panel.locator('[data-testid="stPageLink"]', has_text="Compare the building runs")
    ).to_be_visible()
    # v1 (logistic regression) and v2 (XGBoost) were built by different runs with other params.
    params_text = panel.get_by_text("Params:").inner_text()
    assert "0 differ" not in params_text
    assert not exceptions(page)


def test_downloading_a_version_gives_its_exact_bytes(page: Page, portal: Portal) -> None:
    sign_in(page, portal.url, "alice", PASSWORD, "models?model=churn-classifier&version=2")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download v2").click()
    assert download.value.suggested_filename == "model.json"
    assert Path(download.value.path()).read_bytes() == DEMO_MODEL_BYTES


def _use_model_in_a_run(portal: Portal, reference: str) -> str:
    """A scoring run of team risk that uses ``reference`` through the SDK; returns its id."""
    assert portal.home is not None, "the stack's CAIRN_HOME (CAIRN_E2E_HOME)"
    assert portal.ingest_url, "the stack's ingest address (CAIRN_E2E_INGEST_URL)"
    key = json.loads((portal.home / "demo-seed-keys.json").read_text())["risk"]
    env = {
        **os.environ,
        "CAIRN_API_KEY": key,
        "CAIRN_INGEST_URL": portal.ingest_url,
        "CAIRN_TEAM": "risk",
        "CAIRN_PROJECT": "churn",
        "CAIRN_DIR": str(portal.home / "e2e-sdk"),
        "CAIRN_CAPTURE_OFF": "git,environment,packages,gpu,command,system_metrics",
    }
    script = (
        "import cairn\n"
        "with cairn.init(name='weekly-scoring') as run:\n"
        f"    cairn.use_model({reference!r})\n"
        "print(run.id)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_register_as_model_on_the_artifacts_tab_and_the_run_pages_models(
    page: Page, portal: Portal
) -> None:
    run_id = portal.run_id("xgb-lr0.1-d6")
    name = _unique("e2e-from-run")
    sign_in(page, portal.url, "alice", PASSWORD, f"run?id={run_id}&tab=Artifacts")
    page.get_by_role("button", name="Register as model").first.click()
    dialog = page.locator('[data-testid="stPopoverBody"]')
    dialog.get_by_role("textbox", name="Model name").fill(name)
    dialog.get_by_role("button", name="Register version").click()
    wait_idle(page, timeout=60)
    expect(page.get_by_text(f"Registered {name} v1.")).to_be_visible()

    page.locator('[data-testid="stButtonGroup"] button', has_text="Models").click()
    wait_idle(page)
    built = page.get_by_role("heading", name="Built by this run")
    expect(built).to_be_visible()
    expect(page.locator('[data-testid="stPageLink"]', has_text=f"{name} v1")).to_be_visible()
    expect(
        page.locator('[data-testid="stPageLink"]', has_text="churn-classifier v2")
    ).to_be_visible()
    assert not exceptions(page)

    # A scoring run that used churn-classifier v2 lists it under "Used by this run".
    scoring = _use_model_in_a_run(portal, "churn-classifier:2")
    deadline = time.monotonic() + 30
    while True:
        sign_in(page, portal.url, "alice", PASSWORD, f"run?id={scoring}&tab=Models")
        link = page.locator('[data-testid="stPageLink"]', has_text="churn-classifier v2")
        if link.count():
            break
        assert time.monotonic() < deadline, "the used edge was not shown within 30 s"
        time.sleep(1)
    expect(page.get_by_text("This run built no registered model version.")).to_be_visible()
    expect(page.get_by_role("heading", name="Used by this run")).to_be_visible()
    assert not exceptions(page)
