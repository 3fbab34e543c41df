"""Typed, validated views of the Kubernetes objects Albatross reads.

Pure: no I/O, no AWS SDK. Views are built from the trimmed JSON objects the forwarder
sends (the same shape the Kubernetes API returns) and raise :class:`ObjectError` or
:class:`AnnotationError` with a message fit for a Warning Event.
"""
