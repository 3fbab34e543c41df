"""Listener and rule actions in comparable form: shared by the listener kind (default
actions) and the listener rule kind. AWS returns an action in either of two shapes
(``TargetGroupArn`` or ``ForwardConfig``, a redirect with or without the fields it fills
in) and a config's keys in an order of its own; both shapes compare equal."""

from __future__ import annotations

import json
from typing import Any

from albatross.kinds.base import Props

# What ALB fills in for a redirect field left out.
_REDIRECT_DEFAULTS = {
    "Host": "#{host}",
    "Path": "/#{path}",
    "Port": "#{port}",
    "Protocol": "#{protocol}",
    "Query": "#{query}",
}
OIDC_CREDENTIALS = ("ClientId", "ClientSecret", "UseExistingClientSecret")


def action_key(action: Props) -> tuple[Any, ...]:
    kind = str(action["Type"])
    if kind == "forward":
        config = action.get("ForwardConfig") or {}
        groups = config.get("TargetGroups") or [{"TargetGroupArn": action.get("TargetGroupArn")}]
        sticky = config.get("TargetGroupStickinessConfig") or {}
        stickiness = (
            bool(sticky.get("Enabled", False)),
            sticky.get("DurationSeconds") if sticky.get("Enabled") else None,
        )
        return kind, tuple(sorted((str(g["TargetGroupArn"]), int(g.get("Weight", 1))) for g in groups)), stickiness
    if kind == "fixed-response":
        c = action.get("FixedResponseConfig") or {}
        return kind, str(c.get("StatusCode")), c.get("ContentType"), c.get("MessageBody")
    if kind == "redirect":
        return kind, tuple(sorted({**_REDIRECT_DEFAULTS, **(action.get("RedirectConfig") or {})}.items()))
    if kind == "authenticate-oidc":
        # AWS never shows the client secret; the credentials compare by the version tag
        # of the rule (see listener_rule.oidc_version), not here.
        config = action.get("AuthenticateOidcConfig") or {}
        kept = {k: v for k, v in config.items() if k not in OIDC_CREDENTIALS}
        return kind, _canonical({**action, "AuthenticateOidcConfig": kept})
    return kind, _canonical(action)


def _canonical(value: Any) -> str:
    """A JSON value as text, object keys sorted at every depth: AWS returns an action's
    config (and its AuthenticationRequestExtraParams) in an order of its own."""
    return json.dumps(value, sort_keys=True, default=str)
