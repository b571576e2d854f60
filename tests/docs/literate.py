"""Reading the runnable examples out of a docs page, so tests can run exactly what readers copy.

The convention (stated at the top of every page that uses it):

- each ``## `` section is one example, run in a fresh directory;
- a fenced block directly preceded by ``<!-- file: NAME -->`` is written to ``NAME``;
- any other ``python`` block is run as a script and any ``bash`` block with ``bash``, in order;
- a block directly preceded by ``<!-- no-run -->`` is only shown, as are blocks in any other
  language (``text``, ``yaml`` without a file marker, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^(`{3,})\s*([\w+-]*)")
_MARKER = re.compile(r"^<!--\s*(file:\s*(?P<file>[\w./-]+)|(?P<norun>no-run))\s*-->\s*$")
RUNNABLE = ("python", "bash")


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int  # 1-based line of the opening fence, for error messages
    file: str | None = None  # write the block to this file instead of running it
    shown_only: bool = False  # marked <!-- no-run -->

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
            if title:
                found.append(Section(path.name, title, start, tuple(blocks)))
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
