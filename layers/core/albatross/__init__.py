"""Albatross core: a serverless ALB Ingress controller.

The package is layered, top to bottom: ``cli``/``local`` → ``controller`` → ``aws`` and
``store`` → ``plan`` → ``model`` → ``k8s`` → ``contract``. import-linter enforces the
order (see ``.importlinter`` at the repository root).
"""

__version__ = "0.1.0"
