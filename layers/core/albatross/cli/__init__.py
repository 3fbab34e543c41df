"""The ``albatross`` command line. Not part of the Lambda layer."""
