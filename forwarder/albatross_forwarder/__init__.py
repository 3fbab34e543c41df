"""The forwarder: the only Albatross code in the cluster.

It watches Ingresses (of our class), Services and EndpointSlices, sends each change to
EventBridge as the event contract says (:mod:`albatross.contract`, the only part of the
core it imports), adds the group finalizer to managed Ingresses, and applies what the
cloud side writes back (status, Events, finalizer removal) from its SQS queue.

Importing it first defers the ``kubernetes`` package's ``__init__`` and those of its
``config`` and ``utils`` packages (:mod:`albatross_forwarder.lazy`): the forwarder uses
the client's REST layer alone (:mod:`albatross_forwarder.kube`).
"""

from albatross_forwarder.lazy import defer_init

for _package in ("kubernetes", "kubernetes.config", "kubernetes.utils"):
    defer_init(_package)
