"""The forwarder: the only Albatross code in the cluster.

It watches Ingresses (of our class), Services and EndpointSlices, sends each change to
EventBridge as the event contract says (:mod:`albatross.contract`, the only part of the
core it imports), adds the group finalizer to managed Ingresses, and applies what the
cloud side writes back (status, Events, finalizer removal) from its SQS queue.
"""
