"""cloverpay.remotepay: a Python CloverConnector for Clover terminals (Remote Pay).

The wire protocol lives, without any I/O, in :mod:`cloverpay.remotepay.protocol`.
"""

__all__: list[str] = []
