from __future__ import annotations

import cloverpay.remotepay as remotepay


def test_exported_members_are_complete() -> None:
    public = {
        name
        for name, value in vars(remotepay).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("cloverpay.remotepay._")
    }
    assert public <= set(remotepay.__all__)
    for name in remotepay.__all__:
        assert hasattr(remotepay, name), name
