"""Label sets as GitHub matches them: case-insensitive, order-free; hosted vs self-hosted."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from bot.watch.labels import carries_all, is_github_hosted, label_set_key, missing_labels


@pytest.mark.parametrize(
    ("labels", "key"),
    [
        pytest.param(
            ["self-hosted", "Linux", "X64"], ("linux", "self-hosted", "x64"), id="sorted-lower"
        ),
        pytest.param(["linux", "LINUX", " linux "], ("linux",), id="duplicates-by-case-and-space"),
        pytest.param([], (), id="empty"),
        pytest.param(["", "  ", "gpu"], ("gpu",), id="blanks-dropped"),
        pytest.param(["gpu", None, 3, {"name": "x"}], ("gpu",), id="non-text-dropped"),
        pytest.param("linux", ("linux",), id="lone-string-is-one-label"),
        pytest.param(("B", "a"), ("a", "b"), id="tuple"),
    ],
)
def test_label_set_key(labels: Iterable[str], key: tuple[str, ...]) -> None:
    assert label_set_key(labels) == key


@pytest.mark.parametrize(
    ("labels", "hosted"),
    [
        pytest.param(["ubuntu-latest"], True, id="ubuntu-latest"),
        pytest.param(["Ubuntu-Latest"], True, id="case-insensitive"),
        pytest.param(["ubuntu-24.04"], True, id="ubuntu-24.04"),
        pytest.param(["ubuntu-22.04"], True, id="ubuntu-22.04"),
        pytest.param(["ubuntu-24.04-arm"], True, id="ubuntu-arm"),
        pytest.param(["ubuntu-slim"], True, id="ubuntu-slim"),
        pytest.param(["ubuntu-slim-gpu"], False, id="ubuntu-slim-suffixed-is-an-org-name"),
        pytest.param(["windows-latest"], True, id="windows-latest"),
        pytest.param(["windows-2025"], True, id="windows-year"),
        pytest.param(["macos-14-large"], True, id="macos-large"),
        pytest.param(["macos-15-xlarge"], True, id="macos-xlarge"),
        pytest.param(["macos-latest", "macos-14"], True, id="several-hosted"),
        pytest.param(["self-hosted"], False, id="self-hosted"),
        pytest.param(["self-hosted", "ubuntu-latest"], False, id="self-hosted-wins"),
        pytest.param(["SELF-HOSTED", "linux"], False, id="self-hosted-any-case"),
        pytest.param(["ubuntu-latest", "gpu"], False, id="one-custom-label"),
        pytest.param(["linux"], False, id="custom-only"),
        pytest.param(["ubuntu"], False, id="bare-ubuntu-is-not-a-hosted-image"),
        pytest.param(["ubuntu-latest-xl"], False, id="org-larger-runner-name"),
        pytest.param(["windows"], False, id="bare-windows"),
        pytest.param([], False, id="no-labels"),
    ],
)
def test_is_github_hosted(labels: list[str], hosted: bool) -> None:
    assert is_github_hosted(labels) is hosted


@pytest.mark.parametrize(
    ("runner", "job", "carries", "missing"),
    [
        pytest.param(["self-hosted", "linux", "x64"], ["Linux"], True, (), id="subset-any-case"),
        pytest.param(["self-hosted", "linux"], ["linux", "gpu"], False, ("gpu",), id="one-missing"),
        pytest.param([], ["linux", "gpu"], False, ("gpu", "linux"), id="runner-without-labels"),
        pytest.param(["linux"], [], True, (), id="job-without-labels"),
    ],
)
def test_carries_all_and_missing(
    runner: list[str], job: list[str], carries: bool, missing: tuple[str, ...]
) -> None:
    assert carries_all(runner, job) is carries
    assert missing_labels(runner, job) == missing
