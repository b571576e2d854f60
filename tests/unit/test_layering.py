"""The dependency rule holds: import-linter checks the contracts in pyproject.toml.

contract <- domain, servicekit <- processors, query <- reports <- ingest, query service <- portal
<- local stack; the portal and the query service never import each other; nothing outside the
SDK imports the SDK and the SDK imports no server part; no production module imports the
benchmarks or the tests (docs/architecture.md, "The dependency rule"). A developer runs the
same check with ``lint-imports``.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_every_package_keeps_the_dependency_rule() -> None:
    done = subprocess.run(
        [str(LINT_IMPORTS), "--config", "pyproject.toml", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 kept, 0 broken" in done.stdout


def test_the_rule_names_every_part_and_forbids_the_sdk_outside_sdk() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {c["id"]: c for c in config["contracts"]}
    production = {
        "cairn_contract",
        "domain",
        "servicekit",
        "ingest",
        "processors",
        "query",
        "queryservice",
        "reports",
        "ui",
    }
    assert production <= set(contracts["sdk-is-a-client"]["source_modules"])
    assert contracts["sdk-is-a-client"]["forbidden_modules"] == ["cairn"]
    assert contracts["layers"]["layers"][-1] == "cairn_contract"
    assert {"bench", "tests"} <= set(contracts["no-dev-stack-in-production"]["forbidden_modules"])
    assert set(contracts["portal-and-query-service-apart"]["modules"]) == {"ui", "queryservice"}
    assert contracts["portal-and-query-service-apart"]["type"] == "independence"
