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
