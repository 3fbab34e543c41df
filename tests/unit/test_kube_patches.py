"""The patch semantics of the Kubernetes API double (RFC 6902 and RFC 7386)."""

from __future__ import annotations

import pytest

from albatross.local.kube import ApiError, json_patch, merge_patch


def test_merge_patch_sets_and_removes() -> None:
    doc = {"a": {"b": 1, "c": 2}, "d": [1]}
    assert merge_patch(doc, {"a": {"b": None, "e": 3}, "d": [2]}) == {"a": {"c": 2, "e": 3}, "d": [2]}


def test_json_patch_guarded_by_test() -> None:
    doc = {"metadata": {"finalizers": ["x", "y"]}}
    out = json_patch(
        doc,
        [
            {"op": "test", "path": "/metadata/finalizers/1", "value": "y"},
            {"op": "remove", "path": "/metadata/finalizers/1"},
        ],
    )
    assert out == {"metadata": {"finalizers": ["x"]}}
    with pytest.raises(ApiError) as failed:
        json_patch(doc, [{"op": "test", "path": "/metadata/finalizers/0", "value": "y"}])
    assert failed.value.code == 422
    assert json_patch({"metadata": {}}, [{"op": "add", "path": "/metadata/finalizers", "value": ["f"]}]) == {
        "metadata": {"finalizers": ["f"]}
    }
    assert doc == {"metadata": {"finalizers": ["x", "y"]}}
