"""Controller-wide settings the model needs (LBC's controller flags, with its defaults)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ControllerConfig:
    cluster: str
    vpc_id: str
    region: str = "us-east-1"
    ingress_class: str = "alb"
    default_scheme: str = "internal"
    default_target_type: str = "instance"
