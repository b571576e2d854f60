"""How runnable examples are read out of a docs page (pure parsing, no servers)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.literate import sections

PAGE = """# Title

Intro text with a block that belongs to the page's introduction:

```python
print("intro")
```

## First example

<!-- file: sweep.yaml -->
```yaml
n_trials: 3
```

```bash
cairn sweep sweep.yaml -- python train.py
```

```text
output shown only
```

## Shown only

<!-- no-run -->

```python
cairn.sweep(storage="postgresql://db/sweeps")
```
"""


def test_sections_blocks_and_markers_are_read(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    intro, first, second = sections(page)
    assert (intro.title, intro.blocks[0].text) == ("(introduction)", 'print("intro")\n')
    assert (first.title, second.title) == ("First example", "Shown only")
    written, command, text = first.blocks
    assert (written.file, written.language, written.text, written.runs) == (
        "sweep.yaml",
        "yaml",
        "n_trials: 3\n",
        False,
    )
    assert (command.runs, command.language, command.line) == (True, "bash", 16)
    assert not text.runs
    assert first.runnable
    (shown,) = second.blocks
    assert (shown.shown_only, shown.runs, second.runnable) == (True, False, False)


def test_a_marker_applies_only_to_the_block_right_below(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("## S\n\n<!-- no-run -->\nSome prose.\n\n```python\nx = 1\n```\n")
    (section,) = sections(page)
    assert section.blocks[0].runs


def test_an_unclosed_block_is_an_error_naming_the_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("## S\n\n```python\nx = 1\n")
    with pytest.raises(ValueError, match=r"page.md:3: code block is never closed"):
        sections(page)
