"""cloverpay: take payments through Clover from Python.

The package root stays light on purpose (``import cloverpay`` must be fast); the
parts live in their subpackages: :mod:`cloverpay.api`, :mod:`cloverpay.remotepay`,
:mod:`cloverpay.sandbox` and :mod:`cloverpay.service`.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
