"""ADR 0010 through the whole offline system: a defect of ours that one Ingress's values
reach is a Warning on that Ingress saying the fault is Albatross's (not LBC's
``Failed build model due to ...``, which tells the user their Ingress is wrong); the
Ingress keeps its last good version and the rest of the group moves on.

The defect is injected (a model function raising ``KeyError`` for one valid value): the
handlers run in this process, so the patch reaches them. What is tested is the
reconcile's error boundary, not the function replaced."""

from __future__ import annotations

from typing import Any

import pytest

from albatross.k8s.ingress import Ingress, Path
from albatross.local.system import LocalSystem
from albatross.model import rules
from tests.e2e.test_last_good import A, paths, shop, warnings
from tests.e2e.test_member_failures import NS, add_path_to_web, start_group


def test_an_internal_error_is_albatross_s_fault_and_the_group_moves_on(
    system: LocalSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = start_group(system)
    lb_before = shop(system)
    real = rules.transforms

    def broken(ing: Ingress, path: Path) -> Any:
        if ing.annotations.raw("healthcheck-path") == "/ready":
            raise KeyError("a defect")
        return real(ing, path)

    monkeypatch.setattr(rules, "transforms", broken)
    net.patch_namespaced_ingress("api", NS, {"metadata": {"annotations": {A + "healthcheck-path": "/ready"}}})
    add_path_to_web(net)

    [message] = system.wait_for("the Warning on api", lambda: warnings(system, "api"))
    assert message == (
        "Albatross failed to build the model due to an internal error (KeyError: 'a defect'), "
        "not an error in this Ingress; please report it; its last valid version stays in service until it is fixed"
    )
    expected = [["/api", "/api/*"], ["/shop", "/shop/*"], ["/web", "/web/*"]]
    system.wait_for("web's new rule", lambda: paths(system) == expected)
    assert shop(system) == lb_before
    assert warnings(system, "web") == []
