"""Everything public in cloverpay.api is listed in __all__ (httpx's exported-members test)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from types import ModuleType

import pytest

import cloverpay.api as api

# Private modules whose whole __all__ is public API.
FULLY_EXPORTED = [
    "_client",
    "_client_async",
    "_errors",
    "_idempotency",
    "_limiter",
    "_models_ecommerce",
    "_models_hosted",
    "_models_platform",
    "_paging",
    "_params",
    "_retry",
]


def test_all_exports_exist() -> None:
    for name in api.__all__:
        assert hasattr(api, name), name


def test_every_public_name_is_in_all() -> None:
    public = {
        name
        for name, value in vars(api).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert public | set(api._LAZY) == set(api.__all__)
    assert set(api._LAZY) <= set(api.__all__)
    assert set(dir(api)) >= set(api.__all__)


def test_oauth_webhooks_and_encryption_load_on_first_access() -> None:
    """``import cloverpay.api`` does not import them; the first access does."""
    code = (
        "import sys, cloverpay.api as api\n"
        "lazy = {'cloverpay.api.' + m for m in set(api._LAZY.values())}\n"
        "assert not lazy & set(sys.modules), sorted(lazy & set(sys.modules))\n"
        "assert api.CloverOAuth.__module__ == 'cloverpay.api'\n"
        "assert api.WebhookSignatureError.__module__ == 'cloverpay.api'\n"
        "assert 'cloverpay.api._oauth_auth' in sys.modules\n"
        "assert 'cloverpay.api._webhooks' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        api.no_such_name  # noqa: B018
    assert not hasattr(api, "no_such_name")


@pytest.mark.parametrize("module", FULLY_EXPORTED)
def test_private_module_exports_are_reexported(module: str) -> None:
    mod = importlib.import_module(f"cloverpay.api.{module}")
    missing = set(mod.__all__) - set(api.__all__)
    assert not missing, f"{module} exports {missing} not re-exported by cloverpay.api"


def test_exports_report_public_module() -> None:
    assert api.CloverClient.__module__ == "cloverpay.api"
    assert api.CardDeclinedError.__module__ == "cloverpay.api"


def test_no_duplicates() -> None:
    assert len(api.__all__) == len(set(api.__all__))
