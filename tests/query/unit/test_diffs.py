"""The pure diff rules behind compare_runs and the diff_* functions."""

from __future__ import annotations

from domain.diffs import (
    Change,
    DatasetRecord,
    KeyValues,
    compare_url,
    diff_dataset_records,
    diff_mappings,
    split_common,
    unified_diff,
)


def test_mapping_diff_sorts_added_removed_and_changed() -> None:
    diff = diff_mappings(
        {"numpy": "1.26", "torch": "2.2", "sk": "1.4"},
        {"numpy": "2.0", "torch": "2.2", "pandas": "2.2"},
    )
    assert diff.added == (("pandas", "2.2"),)
    assert diff.removed == (("sk", "1.4"),)
    assert diff.changed == (Change("numpy", "1.26", "2.0"),)
    assert diff.unchanged == 1
    assert not diff.empty
    assert diff_mappings({"a": "1"}, {"a": "1"}).empty


def test_split_common_keeps_only_differing_keys_with_every_runs_value() -> None:
    differing, common = split_common([{"lr": "1", "bs": "64"}, {"lr": "2", "bs": "64", "x": "y"}])
    assert differing == (KeyValues("lr", ("1", "2")), KeyValues("x", (None, "y")))
    assert common == (("bs", "64"),)
    assert split_common([]) == ((), ())
    assert split_common([{"a": "1"}]) == ((), (("a", "1"),))


def test_unified_diff_is_empty_for_equal_texts_and_terminates_lines() -> None:
    assert unified_diff("a\n", "a\n", "x", "y") == ""
    out = unified_diff("a\nb", "a\nc", "x", "y")
    assert out.splitlines()[:2] == ["--- x", "+++ y"]
    assert "-b\n" in out
    assert "+c\n" in out
    assert out.endswith("\n")


def test_compare_urls_for_well_known_forges_only() -> None:
    a, b = "a" * 40, "b" * 40
    assert (
        compare_url("git@github.com:acme/churn.git", a, b)
        == f"https://github.com/acme/churn/compare/{a}...{b}"
    )
    assert (
        compare_url("https://github.com/acme/churn", a, b)
        == f"https://github.com/acme/churn/compare/{a}...{b}"
    )
    assert (
        compare_url("https://gitlab.com/g/sub/p.git", a, b)
        == f"https://gitlab.com/g/sub/p/-/compare/{a}...{b}"
    )
    assert (
        compare_url("git@bitbucket.org:t/r.git", a, b)
        == f"https://bitbucket.org/t/r/branches/compare/{b}..{a}"
    )
    assert compare_url("git@example.com:x/y.git", a, b) is None
    assert compare_url("git@github.com:acme/churn.git", a, a) is None
    assert compare_url("git@github.com:acme/churn.git", "", b) is None


def d(name: str, digest: str, role: str = "input", manifest: str = "") -> DatasetRecord:
    return DatasetRecord(role, name, digest, manifest or digest)


def test_dataset_diff_matches_by_role_and_name() -> None:
    diff = diff_dataset_records(
        [d("train", "sha256:1"), d("eval", "sha256:e"), d("old", "sha256:o")],
        [
            d("train", "sha256:2"),
            d("eval", "sha256:e"),
            d("new", "sha256:n"),
            d("train", "sha256:x", "output"),
        ],
    )
    assert [(c.name, c.before.digest, c.after.digest) for c in diff.changed] == [
        ("train", "sha256:1", "sha256:2")
    ]
    assert [r.name for r in diff.added] == ["new", "train"]
    assert [r.name for r in diff.removed] == ["old"]
    assert [r.name for r in diff.unchanged] == ["eval"]
    assert not diff.empty
    assert diff_dataset_records([d("a", "sha256:1")], [d("a", "sha256:1")]).empty


def test_several_versions_under_one_name_are_compared_as_sets() -> None:
    diff = diff_dataset_records(
        [d("shards", "sha256:1"), d("shards", "sha256:2")],
        [d("shards", "sha256:2"), d("shards", "sha256:3"), d("shards", "sha256:4")],
    )
    assert diff.changed == ()
    assert [r.digest for r in diff.removed] == ["sha256:1"]
    assert [r.digest for r in diff.added] == ["sha256:3", "sha256:4"]
    assert [r.digest for r in diff.unchanged] == ["sha256:2"]
