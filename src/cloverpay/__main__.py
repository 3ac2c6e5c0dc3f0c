"""``python -m cloverpay``: same as the ``cloverpay`` command."""

from cloverpay.cli import main

if __name__ == "__main__":
    main()
