"""``import cairn`` is light: under 150 ms, and no heavy package until a run needs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ["grpc", "google.protobuf", "psutil", "numpy", "pandas", "torch", "fsspec"]


def child(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    return done.stdout + "\n" + done.stderr


def test_importing_cairn_takes_under_150_ms() -> None:
    output = child("import cairn")
    line = next(row for row in output.splitlines() if row.rstrip().endswith("| cairn"))
    cumulative_us = int(line.split("|")[1])
    assert cumulative_us < 150_000, line


def test_importing_cairn_pulls_in_no_heavy_package() -> None:
    output = child(
        f"import cairn, json, sys; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    assert json.loads(output.splitlines()[0]) == []


def test_a_run_never_imports_numpy_pandas_or_torch(tmp_path: Path) -> None:
    code = (
        "import cairn, json, sys\n"
        f"run = cairn.init(project='p', team='t', mode='offline', dir={str(tmp_path)!r})\n"
        "run.log({'a': 1.0})\n"
        "run.finish()\n"
        "print(json.dumps([m for m in ('numpy', 'pandas', 'torch') if m in sys.modules]))\n"
    )
    output = child(code)
    assert json.loads(output.splitlines()[0]) == []
