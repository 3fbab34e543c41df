"""What makes the local AWS cheaper to run without changing one answer it gives.

moto's Step Functions validates a definition by parsing it with a pure-Python ANTLR
parser, about a second of CPU for each of our state machines, each time a local system
deploys them (every end-to-end test, every ``albatross local up``). A definition that
parsed once parses again: :func:`asl_validated_once` remembers the definitions that
passed, for as long as it is active, and validates any other as moto does (so an invalid
one is still refused with moto's ``InvalidDefinition``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from moto.stepfunctions.parser.models import StepFunctionsParserBackend

_lock = threading.Lock()
_valid: set[str] = set()


@contextmanager
def asl_validated_once() -> Iterator[None]:
    original: Callable[..., Any] = StepFunctionsParserBackend.__dict__["_validate_definition"].__func__

    def validate(definition: str) -> None:
        with _lock:
            if definition in _valid:
                return
        original(definition=definition)  # raises InvalidDefinition as moto would
        with _lock:
            _valid.add(definition)

    with _lock:
        saved = StepFunctionsParserBackend.__dict__["_validate_definition"]
        StepFunctionsParserBackend._validate_definition = staticmethod(validate)  # type: ignore[method-assign]  # moto's static validator
    try:
        yield
    finally:
        with _lock:
            StepFunctionsParserBackend._validate_definition = saved  # type: ignore[method-assign]  # restored
