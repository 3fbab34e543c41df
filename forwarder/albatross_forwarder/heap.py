"""Hand the heap freed by a burst back to the operating system.

A full list parses pages of hundreds of objects and queues thousands of events; once
they are sent, the memory is free but glibc keeps most of it mapped (holes in the heap
and its arenas are not returned by themselves), so RSS stays at the burst's peak.
:func:`trim` collects garbage and asks glibc to return free pages (``malloc_trim``);
elsewhere (musl, macOS) it only collects.
"""

from __future__ import annotations

import ctypes
import gc
import logging
from collections.abc import Callable

log = logging.getLogger("albatross.forwarder.heap")


def _malloc_trim() -> Callable[[int], int] | None:
    try:  # the symbols the interpreter is linked with, libc's among them
        fn: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # not glibc (or no C library to ask, on Windows)
        return None
    return fn


_TRIM = _malloc_trim()


def trim() -> None:
    gc.collect()
    if _TRIM is not None:
        _TRIM(0)
