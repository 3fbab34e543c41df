"""Defer a package's ``__init__`` until its own namespace is read.

``import kubernetes.client.rest`` runs ``kubernetes/__init__.py`` first, and that imports
the config loaders, the dynamic client, streams, the informer and leader election, with
yaml, requests and oauthlib: about 17 MiB resident that the forwarder never uses.
:func:`defer_init` registers such a package with its ``__path__`` only, so its
submodules import as usual, and runs the real ``__init__`` the first time an attribute
it has not got yet is read (``kubernetes.watch`` after ``import kubernetes``, or
``from kubernetes import config`` before that submodule was imported). Code that uses
the whole package (the tests, ``albatross local``) gets it, only later.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from typing import Any


def defer_init(name: str) -> None:
    """Register package ``name`` uninitialised; a no-op once it is imported (deferring
    then saves nothing) or where it is not installed."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    loader, lock = spec.loader, threading.Lock()

    def __getattr__(attr: str) -> Any:  # noqa: N807  # the module attribute hook (PEP 562)
        with lock:
            if vars(module).get("__getattr__") is __getattr__:
                del module.__getattr__
                loader.exec_module(module)
        return getattr(module, attr)

    module.__getattr__ = __getattr__  # type: ignore[method-assign]  # PEP 562: a module may have one
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent in sys.modules:  # as the import system does for a submodule it loads
        setattr(sys.modules[parent], child, module)
