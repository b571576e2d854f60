"""Reading the runnable examples out of a docs page, so tests can run exactly what readers copy.

The convention (stated at the top of every page that uses it):

- each ``## `` section is one example, run in a fresh directory;
- a fenced block directly preceded by ``<!-- file: NAME -->`` is written to ``NAME``;
- any other ``python`` block is run as a script, any ``bash`` block with ``bash``, any ``sql``
  block with ``cairn sql``, and each ``$ `` command of a ``console`` block with ``bash`` (the lines
  below a command are its output, checked line by line; ``...`` stands for any lines), in order;
- a block directly preceded by ``<!-- no-run: REASON -->`` is only shown, for the stated reason
  (a deliberately partial sketch, a command that would need another machine, ...);
- blocks in display languages (:data:`SHOWN`: outputs, schemas, file formats) are only shown.
  Every block has a language, so nothing is skipped silently.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^(`{3,})\s*([\w+-]*)")
_MARKER = re.compile(
    r"^<!--\s*(file:\s*(?P<file>[\w./-]+)|(?P<norun>no-run)(:\s*(?P<reason>.*?))?)\s*-->\s*$"
)
INTRODUCTION = "(introduction)"  # the title of what comes before a page's first ## section
RUNNABLE = ("python", "bash", "sql", "console")
# Languages that are shown, never run: outputs, schemas and file formats (a file a command reads
# is written with a <!-- file: NAME --> marker instead).
SHOWN = frozenset(
    {"text", "proto", "yaml", "toml", "json", "ini", "csv", "diff", "go", "java", "typescript",
     "dockerfile", "hcl", "mermaid", "promql"}
)  # fmt: skip


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int  # 1-based line of the opening fence, for error messages
    file: str | None = None  # write the block to this file instead of running it
    shown_only: bool = False  # marked <!-- no-run -->
    reason: str = ""  # why it is only shown: <!-- no-run: REASON -->

    @property
    def runs(self) -> bool:
        return self.file is None and not self.shown_only and self.language in RUNNABLE


@dataclass(frozen=True)
class Section:
    page: str
    title: str
    line: int
    blocks: tuple[Block, ...]

    @property
    def runnable(self) -> bool:
        return any(block.runs for block in self.blocks)


def sections(path: Path) -> list[Section]:
    """The ``## `` sections of a Markdown page with their fenced blocks, in page order."""
    found: list[Section] = []
    title, start = "", 0
    blocks: list[Block] = []
    marker: re.Match[str] | None = None
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if line.startswith("## "):
            if title or blocks:  # blocks above the first section are the page's introduction
                found.append(Section(path.name, title or INTRODUCTION, start, tuple(blocks)))
            title, start, blocks, marker = line[3:].strip(), i + 1, [], None
        elif fence:
            end = i + 1
            while end < len(lines) and not lines[end].startswith(fence.group(1)):
                end += 1
            if end == len(lines):
                raise ValueError(f"{path.name}:{i + 1}: code block is never closed")
            blocks.append(
                Block(
                    language=fence.group(2).lower(),
                    text="\n".join(lines[i + 1 : end]) + "\n",
                    line=i + 1,
                    file=marker.group("file") if marker else None,
                    shown_only=bool(marker and marker.group("norun")),
                    reason=(marker.group("reason") or "") if marker else "",
                )
            )
            marker, i = None, end
        elif _MARKER.match(line):
            marker = _MARKER.match(line)
        elif line.strip():
            marker = None  # a marker applies only to the block right below it
        i += 1
    if title:
        found.append(Section(path.name, title, start, tuple(blocks)))
    return found


@dataclass(frozen=True)
class Command:
    """One ``$ `` command of a ``console`` block and the output lines shown below it."""

    text: str
    shown_output: tuple[str, ...]


def console_commands(block: Block) -> list[Command]:
    """The commands of a ``console`` block (a trailing backslash continues a command)."""
    commands: list[Command] = []
    current: list[str] | None = None
    output: list[str] = []
    continuing = False
    for line in block.text.splitlines():
        if continuing and current is not None:
            current.append(line)
        elif line.startswith("$ "):
            if current is not None:
                commands.append(Command("\n".join(current), tuple(output)))
            current, output = [line[2:]], []
        elif current is not None:
            output.append(line)
        continuing = line.rstrip().endswith("\\")
    if current is not None:
        commands.append(Command("\n".join(current), tuple(output)))
    return commands


def _normal(line: str) -> str:
    return " ".join(line.split())


def output_mismatch(shown: tuple[str, ...], actual: str) -> str | None:
    """``None`` if ``actual`` has the shown lines, in order, as whole lines (whitespace runs
    compare equal; a ``...`` line matches any number of lines); else what is missing."""
    lines = [_normal(line) for line in actual.splitlines()]
    wanted = [_normal(line) for line in shown if line.strip()]
    position, free = 0, True  # the shown output may start below other lines (warnings)
    for want in wanted:
        if want == "...":
            free = True
            continue
        found = None
        for i in range(position, len(lines)):
            if lines[i] == want:
                found = i
                break
            if not free:
                break
        if found is None:
            return f"expected line {want!r} not found"
        position, free = found + 1, False
    return None


# --- running a section: the one runner of every page (tests/docs/test_every_page.py and the
# pages with a stack of their own: docs/api.md, docs/reproduce.md, docs/deploy.md) ------------

# Commands a page gives for the developer's own machine, and what stands in for them here.
STANDINS = {
    # The stack is already up (this module's fixture): `make up` is `cairn up`, which finds it.
    "make up": "cairn up",
    "make demo": "cairn up --demo",
}


def _run(command: list[str], work: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=800)


def _check(done: subprocess.CompletedProcess[str], where: str) -> None:
    assert done.returncode == 0, (
        f"{where} exited {done.returncode}\n"
        f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )


def _standin(command: str) -> str:
    for written, standin in STANDINS.items():
        command = re.sub(rf"(?m)^(\s*){re.escape(written)}\b", rf"\g<1>{standin}", command)
    # The pages run from the repository root; here the checkout's .venv/bin is first on PATH.
    return re.sub(r"(?m)(^|\s)\.venv/bin/", r"\1", command)


def run_block(block: Block, n: int, work: Path, env: dict[str, str], where: str) -> None:
    if block.language == "python":
        script = work / f"example_{n}.py"
        script.write_text(block.text, encoding="utf-8")
        _check(_run([sys.executable, str(script)], work, env), where)
    elif block.language == "bash":
        _check(_run(["bash", "-euo", "pipefail", "-c", _standin(block.text)], work, env), where)
    elif block.language == "sql":
        _check(_run(["cairn", "sql", block.text], work, env), where)
    else:
        assert block.language == "console", block.language
        for command in console_commands(block):
            # The store is filled a moment after a run ends: a reader typing the next command
            # sees it; a script may be quicker, so a query whose answer is not there yet is
            # repeated for a while before it counts as wrong.
            deadline = time.monotonic() + 30
            while True:
                done = _run(["bash", "-euo", "pipefail", "-c", _standin(command.text)], work, env)
                _check(done, f"{where}: $ {command.text}")
                problem = output_mismatch(command.shown_output, done.stdout)
                if problem is None or time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert problem is None, (
                f"{where}: $ {command.text}: {problem}\n--- shown\n"
                + "\n".join(command.shown_output)
                + f"\n--- actual\n{done.stdout[-3000:]}"
            )


def run_blocks(section: Section, work: Path, env: dict[str, str]) -> None:
    """Every block of ``section`` in page order, in ``work``, with environment ``env``: file
    blocks are written, runnable ones run (:func:`run_block`), shown ones skipped."""
    for n, block in enumerate(section.blocks):
        if block.file is not None:
            target = work / block.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.text, encoding="utf-8")
        elif block.runs:
            run_block(block, n, work, env, f"{section.page}:{block.line} ({section.title})")
