"""Restoring a run's code: clone (or reuse a local clone), check out the commit, apply the patch.

The run recorded a commit and ``git diff HEAD`` of its tracked files; untracked files were never
read, so they cannot come back. A patch the SDK cut at its size limit (``diff_truncated``) would
apply as something else, so it is refused rather than half-applied; so is a patch whose SHA-256
is not the recorded one.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from cairn.errors import FailedPreconditionError, NotFoundError
from cairn.reproduce._record import CodeRecord

GIT_TIMEOUT_S = 600.0


def _git(args: list[str], cwd: Path | None, *, stdin: bytes | None = None) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            input=stdin,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
            env=env,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise FailedPreconditionError(f"git {args[0]} failed: {exc}", field="code") from None
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise FailedPreconditionError(
            f"git {' '.join(args[:2])} failed: {message[-1] if message else done.returncode}",
            field="code",
        )
    return done.stdout.decode(errors="replace").strip()


def restorable(code: CodeRecord | None) -> str:
    """Why the code cannot be restored, or '' when it can (checked before any work)."""
    if code is None or not code.commit:
        return "the run recorded no git commit (capture was off or it ran outside a repository)"
    if code.dirty and code.diff_truncated:
        return (
            f"the uncommitted patch was cut at the capture size limit when the run was recorded"
            f" (whole patch sha256 {code.diff_sha256 or 'unknown'}), so the code that ran cannot"
            " be rebuilt"
        )
    if code.dirty and not code.diff and not code.diff_sha256:
        return "the run had uncommitted changes but their patch was not captured (diff off)"
    return ""


def restore_code(code: CodeRecord | None, target: Path, *, repo: str | None = None) -> Path:
    """Clone ``repo`` (a local clone or URL; default the recorded remote) into ``target``, check
    out the recorded commit and apply the recorded patch. Returns the work tree."""
    reason = restorable(code)
    if reason:
        raise FailedPreconditionError(f"cannot restore the code: {reason}", field="code")
    assert code is not None
    source = repo or code.git_remote
    if not source:
        raise FailedPreconditionError(
            "cannot restore the code: the run recorded no git remote; give a clone with --repo",
            field="repo",
        )
    if target.exists() and any(target.iterdir()):
        raise FailedPreconditionError(
            f"{target} is not empty; give an empty or new --workdir", field="workdir"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    _git(["clone", "--quiet", "--no-checkout", source, str(target)], None)
    try:
        _git(["cat-file", "-e", f"{code.commit}^{{commit}}"], target)
    except FailedPreconditionError:
        raise NotFoundError(
            f"cannot restore the code: commit {code.commit} is not in {source}"
            " (was it pushed? give a clone that has it with --repo)",
            field="commit",
        ) from None
    _git(["-c", "advice.detachedHead=false", "checkout", "--quiet", code.commit], target)
    if code.dirty and code.diff:
        patch = code.diff.encode()
        candidates = [patch, patch + b"\n"]  # a store may have dropped the final newline
        matching = [c for c in candidates if hashlib.sha256(c).hexdigest() == code.diff_sha256]
        if code.diff_sha256 and not matching:
            raise FailedPreconditionError(
                "cannot restore the code: the recorded patch does not hash to the recorded"
                f" sha256 {code.diff_sha256} of the patch that ran",
                field="diff",
            )
        patch = matching[0] if matching else candidates[0 if patch.endswith(b"\n") else 1]
        _git(["apply", "--whitespace=nowarn", "-"], target, stdin=patch)
    return target
