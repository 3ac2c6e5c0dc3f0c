"""TransArmor encrypted_pan: layout of the key, OAEP-SHA1, round trip, clear errors."""

from __future__ import annotations

import base64
import enum
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from cloverpay.api import (
    decrypt_pan,
    encrypt_pan,
    load_ta_keys,
    ta_public_key_from_rsa,
)

PAN = "4242424242424242"


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ta_key(private_key: rsa.RSAPrivateKey) -> str:
    return ta_public_key_from_rsa(private_key.public_key())


def test_key_layout_is_modulus_then_exponent(private_key: rsa.RSAPrivateKey, ta_key: str) -> None:
    raw = base64.b64decode(ta_key)
    numbers = private_key.public_key().public_numbers()
    assert len(raw) == 256 + 3
    assert int.from_bytes(raw[:256], "big") == numbers.n
    assert raw[256:] == b"\x01\x00\x01"
    assert ta_public_key_from_rsa(numbers) == ta_key


def test_round_trip_with_independent_oaep_sha1_decryption(
    private_key: rsa.RSAPrivateKey, ta_key: str
) -> None:
    encrypted = encrypt_pan(PAN, ta_key)
    ciphertext = base64.b64decode(encrypted)
    assert len(ciphertext) == 256
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    assert private_key.decrypt(ciphertext, oaep) == b"00000000" + PAN.encode()
    assert decrypt_pan(encrypted, private_key) == PAN
    assert encrypt_pan(PAN, ta_key) != encrypted  # OAEP is randomised


@settings(max_examples=15, deadline=None)
@given(st.text(alphabet="0123456789", min_size=12, max_size=19))
def test_any_pan_round_trips(private_key: rsa.RSAPrivateKey, ta_key: str, pan: str) -> None:
    assert decrypt_pan(encrypt_pan(pan, ta_key), private_key) == pan


@pytest.mark.parametrize(
    ("pan", "match"),
    [
        ("4242 4242 4242 4242", "digits only"),
        ("4242-4242-4242-4242", "digits only"),
        ("42424242424", "12 to 19 digits, got 11"),
        ("4" * 20, "12 to 19 digits, got 20"),
        ("", "digits only"),
        ("４２４２４２４２４２４２４２４２", "digits only"),
    ],
)
def test_bad_pan_is_named_never_echoed(ta_key: str, pan: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        encrypt_pan(pan, ta_key)
    assert str(info.value).startswith("pan:")
    if pan:
        assert pan not in str(info.value)


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("not base64!", "not valid base64"),
        (base64.b64encode(b"\x01" * 256).decode(), "256 modulus bytes plus the exponent"),
        (base64.b64encode(b"\x00" * 256 + b"\x01\x00\x01").decode(), "not an RSA-2048"),
        (base64.b64encode(b"\xff" * 256 + b"\x02").decode(), "not an RSA-2048"),
    ],
)
def test_bad_key_is_a_clear_error(key: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        encrypt_pan(PAN, key)


def test_decrypt_errors(private_key: rsa.RSAPrivateKey, ta_key: str) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encrypted = encrypt_pan(PAN, ta_key)
    with pytest.raises(ValueError, match="does not decrypt"):
        decrypt_pan(encrypted, other)
    with pytest.raises(ValueError, match="not valid base64"):
        decrypt_pan("%%%", private_key)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    no_prefix = private_key.public_key().encrypt(PAN.encode(), oaep)
    with pytest.raises(ValueError, match="prefix"):
        decrypt_pan(base64.b64encode(no_prefix).decode(), private_key)


def test_ta_key_must_be_2048_bits() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ValueError, match="RSA-2048, got 1024"):
        ta_public_key_from_rsa(small.public_key())


class Env(enum.Enum):
    SANDBOX = "sandbox"
    PRODUCTION_NA = "production_na"


class NamedEnv:
    def __init__(self, name: str) -> None:
        self.name = name


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ("sandbox", "dev-key"),
        ("dev", "dev-key"),
        ("DEV", "dev-key"),
        ("prod", "prod-key"),
        ("production", "prod-key"),
        ("production_eu", "prod-key"),
        (Env.SANDBOX, "dev-key"),
        (Env.PRODUCTION_NA, "prod-key"),
        (NamedEnv("sandbox"), "dev-key"),
    ],
)
def test_load_ta_keys(environment: object, expected: str) -> None:
    keys = {"TA_PUBLIC_KEY_DEV": "dev-key", "TA_PUBLIC_KEY_PROD": "prod-key", "other": 1}
    assert load_ta_keys(keys, environment) == expected


def test_load_ta_keys_errors() -> None:
    with pytest.raises(ValueError, match="environment"):
        load_ta_keys({"TA_PUBLIC_KEY_DEV": "k"}, "staging")
    with pytest.raises(ValueError, match="TA_PUBLIC_KEY_PROD missing"):
        load_ta_keys({"TA_PUBLIC_KEY_DEV": "k"}, "prod")


def test_without_cryptography_the_error_names_the_extra() -> None:
    """A bare install has no cryptography: importing cloverpay.api still works, and
    encrypt_pan says what to install. Run in a fresh interpreter that cannot import it."""
    code = (
        "import sys; sys.modules['cryptography'] = None\n"
        "import cloverpay.api as api\n"
        "try:\n"
        "    api.encrypt_pan('4242424242424242', 'AAAA')\n"
        "except api.MissingCryptographyError as exc:\n"
        "    print('ERR', exc)\n"
        "assert 'cryptography' not in [m.split('.')[0] for m in sys.modules if sys.modules[m]]\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "ERR" in out
    assert "pip install 'cloverpay[sandbox]'" in out
    assert "4242424242424242" not in out


def test_import_does_not_load_cryptography() -> None:
    code = (
        "import sys\n"
        "import cloverpay.api\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'cryptography'}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"


def test_decrypt_rejects_a_prefixed_plaintext_that_is_not_a_pan(
    private_key: rsa.RSAPrivateKey,
) -> None:
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
    junk = private_key.public_key().encrypt(b"00000000abc", oaep)
    with pytest.raises(ValueError, match=r"^encrypted_pan: pan: must be a string of digits"):
        decrypt_pan(base64.b64encode(junk).decode(), private_key)
