"""``cairn.register_model`` right after the run finished: the artifact is in Kafka but not yet in
the store, so a NOT_FOUND is looked up again for a while; one that never shows is still an error."""

from __future__ import annotations

import pytest

from cairn import models
from cairn.errors import NotFoundError


class LaggingReads:
    def __init__(self, misses: int) -> None:
        self.misses = misses
        self.calls = 0

    def artifact(self, run_id: str, name: str) -> tuple[str, str]:
        self.calls += 1
        if self.calls <= self.misses:
            raise NotFoundError(f"artifact_name: run {run_id} logged no artifact {name!r}")
        return "ab" * 32, "file:///a/model.bin"


def test_an_artifact_not_yet_projected_is_found_once_it_is() -> None:
    reads = LaggingReads(misses=3)
    found = models._artifact_when_visible(reads, "run", "model.bin")  # type: ignore[arg-type]
    assert found == ("ab" * 32, "file:///a/model.bin")
    assert reads.calls == 4


def test_an_artifact_that_never_shows_is_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "ARTIFACT_WAIT_S", 0.3)
    reads = LaggingReads(misses=10**6)
    with pytest.raises(NotFoundError, match="logged no artifact"):
        models._artifact_when_visible(reads, "run", "model.bin")  # type: ignore[arg-type]
    assert reads.calls > 1
