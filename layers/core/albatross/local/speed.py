"""What makes the local AWS cheaper to run without changing one answer it gives.

moto's Step Functions validates a definition by parsing it with a pure-Python ANTLR
parser, about a second of CPU for each of our state machines, each time a local system
deploys them (every end-to-end test, every ``albatross local up``). A definition that
parsed once parses again: :func:`asl_validated_once` remembers the definitions that
passed, for as long as it is active, and validates any other as moto does (so an invalid
one is still refused with moto's ``InvalidDefinition``).

And moto's server, to find the backend of each request, lists its own package folder
(``moto.backends.list_of_moto_modules``: a ``stat`` of some 150 folders per request, a
few percent of a local system's CPU). The folder does not change while we run:
:func:`modules_listed_once` lists it once. :func:`shortcuts` is both.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import moto.backends
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


@contextmanager
def modules_listed_once() -> Iterator[None]:
    original = moto.backends.list_of_moto_modules
    listed = list(original())

    def list_of_moto_modules() -> Iterator[str]:
        return iter(listed)

    moto.backends.list_of_moto_modules = list_of_moto_modules  # the same answers, listed once
    try:
        yield
    finally:
        moto.backends.list_of_moto_modules = original


@contextmanager
def shortcuts() -> Iterator[None]:
    with ExitStack() as stack:
        stack.enter_context(asl_validated_once())
        stack.enter_context(modules_listed_once())
        yield
