"""The Media sections in headless Chromium, on the demo's stack: two runs of team risk log every
kind of media through the SDK (as a user does, into the stack's artifact store), and Alice sees
each kind drawn on the Run page's Media tab and side by side on the Compare page; a hostile
text stays text, and the page holds no URL of the artifact store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from playwright.sync_api import Page, expect

from query.access import Caller
from query.client import connect
from query.media import media_keys
from tests.ui.browser import exceptions, sign_in, wait_idle
from tests.ui.e2e.conftest import Portal

pytestmark = pytest.mark.e2e

PASSWORD = "cairn-demo"
PROJECT = "media-e2e"
HOSTILE = "<script>window.__pwned=1</script> **not bold** step 1"
KEYS = (
    "notes",
    "tone",
    "val/confusion",
    "val/examples",
    "val/predictions",
    "weights",
    "weights_plotly",
)
SCRIPT = """
import sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import plotly.graph_objects as go
import cairn

seed = int(sys.argv[1])
rng = np.random.default_rng(seed)
with cairn.init(name=f"media-e2e-{seed}") as run:
    for step in (0, 1):
        rows = []
        for i in range(4):
            image = rng.uniform(0, 1, size=(32, 32, 3))
            ref = run.log_image("val/examples", image, step=step, caption=f"example {i} of run {seed}",
                                boxes=[(2, 2, 20, 20, "cat", 0.9)],
                                masks=(image[:, :, 0] > 0.5).astype(np.uint8))
            rows.append({"id": f"ex{i}", "label": i % 2, "pred": (i + seed) % 2, "image": ref})
        run.log_table("val/predictions", rows, step=step)
        run.log_text("notes", sys.argv[2].replace("step 1", f"step {step}"), step=step)
        run.log_confusion_matrix("val/confusion", [r["label"] for r in rows],
                                 [r["pred"] for r in rows], labels=[0, 1], step=step)
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [seed, 0])
    run.log_figure("weights", fig, step=1)
    run.log_figure("weights_plotly", go.Figure(go.Bar(x=["a", "b"], y=[seed, 2])), step=1)
    run.log_audio("tone", np.sin(np.linspace(0, 440 * 2 * np.pi, 8000)), 8000, step=1)
print(run.id)
"""


def _log_runs(portal: Portal) -> list[str]:
    assert portal.home is not None, "the stack's CAIRN_HOME (CAIRN_E2E_HOME)"
    assert portal.ingest_url, "the stack's ingest address (CAIRN_E2E_INGEST_URL)"
    key = json.loads((portal.home / "demo-seed-keys.json").read_text())["risk"]
    env = {
        **os.environ,
        "CAIRN_API_KEY": key,
        "CAIRN_INGEST_URL": portal.ingest_url,
        "CAIRN_TEAM": "risk",
        "CAIRN_PROJECT": PROJECT,
        "CAIRN_DIR": str(portal.home / "e2e-media"),
        # Where the stack's portal reads blobs from (its CAIRN_HOME/artifacts).
        "CAIRN_ARTIFACT_STORE": str(portal.home / "artifacts"),
        "CAIRN_CAPTURE_OFF": "git,environment,packages,gpu,command,system_metrics",
    }
    run_ids = []
    for seed in (1, 2):
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(seed), HOSTILE],
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        run_ids.append(done.stdout.strip().splitlines()[-1])
    return run_ids


@pytest.fixture(scope="module")
def media_runs(portal: Portal) -> list[str]:
    """Two runs with every kind of media, projected."""
    run_ids = _log_runs(portal)
    store, admin = connect(portal.clickhouse_url), Caller("e2e", admin=True)
    deadline = time.monotonic() + 90
    while any(tuple(k.key for k in media_keys(store, admin, r)) != KEYS for r in run_ids):
        assert time.monotonic() < deadline, "the media were not projected within 90 s"
        time.sleep(1)
    return run_ids


def _no_store_urls(page: Page, portal: Portal) -> None:
    assert portal.home is not None
    html = page.content()
    assert str(portal.home / "artifacts") not in html
    assert "file://" not in html


@pytest.mark.timeout(900)  # the first test of a session starts the demo stack
def test_the_run_pages_media_tab_draws_every_kind(
    page: Page, portal: Portal, media_runs: list[str]
) -> None:
    # The images first: the first step slider on the page is theirs.
    keys = ",".join(("val/examples", *(k for k in KEYS if k != "val/examples")))
    sign_in(page, portal.url, "alice", PASSWORD, f"run?id={media_runs[0]}&tab=Media&media={keys}")
    wait_idle(page, timeout=120)
    # Images: the four of the last step, with their captions (the overlays drawn into them).
    for i in range(4):
        picture = page.get_by_role("img", name=f"val/examples image {i}")
        expect(picture).to_be_visible()
        expect(page.get_by_text(f"example {i} of run 1", exact=True)).to_be_visible()
    width = page.get_by_role("img", name="val/examples image 0").evaluate("i => i.naturalWidth")
    assert width == 192  # 32 px enlarged before the boxes were drawn: an overlaid picture
    # Text as text: the script is shown, never run; the asterisks are not bold.
    expect(page.get_by_text(HOSTILE, exact=True)).to_be_visible()
    assert page.evaluate("window.__pwned") is None
    # The table (sortable grid), the confusion matrix as a heatmap, both figures, the audio.
    expect(page.locator('[data-testid="stDataFrame"]').first).to_be_visible()
    expect(page.get_by_text("4 of 4 rows", exact=False).first).to_be_visible()
    expect(page.locator("text.gtitle", has_text="val/confusion")).to_be_visible()
    expect(page.get_by_role("img", name="weights figure")).to_be_visible()
    expect(page.locator(".js-plotly-plot .barlayer").first).to_be_visible()
    expect(page.locator("audio")).to_have_count(1)
    _no_store_urls(page, portal)
    assert not exceptions(page)

    # The images of the first step instead: other pictures under the same captions.
    before = page.get_by_role("img", name="val/examples image 0").get_attribute("src")
    slider = page.locator('[data-testid="stSlider"]').first
    slider.get_by_role("slider").focus()
    page.keyboard.press("Home")
    wait_idle(page)
    after = page.get_by_role("img", name="val/examples image 0").get_attribute("src")
    assert before != after
    assert not exceptions(page)


def test_compare_shows_one_key_side_by_side_for_every_kind(
    page: Page, portal: Portal, media_runs: list[str]
) -> None:
    runs = ",".join(media_runs)
    sign_in(
        page, portal.url, "alice", PASSWORD, f"compare?runs={runs}&tab=Media&media=val/examples"
    )
    wait_idle(page, timeout=120)
    # Each run's column is headed by its name (the run table above is a canvas grid).
    expect(page.locator("strong", has_text="media-e2e-1")).to_be_visible()
    expect(page.locator("strong", has_text="media-e2e-2")).to_be_visible()
    expect(page.get_by_role("img", name="val/examples image 3")).to_have_count(2)
    expect(page.get_by_text("example 0 of run 2", exact=True)).to_be_visible()
    checks = {
        "notes": lambda: expect(page.get_by_text(HOSTILE, exact=True)).to_have_count(2),
        "tone": lambda: expect(page.locator("audio")).to_have_count(2),
        "val/confusion": lambda: expect(page.locator("text.gtitle", has_text="val/confusion")).to_have_count(2),
        # (the comparison's run table above is a data grid too)
        "val/predictions": lambda: expect(page.locator('[data-testid="stDataFrame"]')).to_have_count(3),
        "weights": lambda: expect(page.get_by_role("img", name="weights figure")).to_have_count(2),
        "weights_plotly": lambda: expect(page.locator(".js-plotly-plot .barlayer")).to_have_count(2),
    }  # fmt: skip
    for key, check in checks.items():
        box = page.get_by_role("combobox", name="Key")
        box.click()
        box.fill(key)
        page.get_by_role("option", name=key, exact=True).click()
        wait_idle(page)
        check()
        assert not exceptions(page), key
    assert page.evaluate("window.__pwned") is None
    _no_store_urls(page, portal)
