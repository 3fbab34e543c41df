"""AWS facts the model builder needs, gathered by ``albatross.aws.discovery``.

Shapes follow the boto3 responses (DescribeSubnets ``Subnets`` items) so a user can
write them by hand for ``albatross plan --offline``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Discovery:
    subnets: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
