"""KeyedFileTokenStore: one 0600 JSON file holding the tokens of several devices."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from cloverpay.remotepay import KeyedFileTokenStore, TokenStore


def test_tokens_of_several_devices_in_one_private_file(tmp_path: Path) -> None:
    path = tmp_path / "cfg" / "terminals.json"
    lane1 = KeyedFileTokenStore(path, "wss://10.0.0.1:12345/remote_pay")
    lane2 = KeyedFileTokenStore(path, "wss://10.0.0.2:12345/remote_pay")
    assert isinstance(lane1, TokenStore)
    assert lane1.load() is None
    lane1.save("tok-1")
    lane2.save("tok-2")
    assert (lane1.load(), lane2.load()) == ("tok-1", "tok-2")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "tok-1" not in repr(lane1)
    lane1.save(None)  # a failed pairing forgets only this device's token
    assert (lane1.load(), lane2.load()) == (None, "tok-2")
    assert json.loads(path.read_text()) == {"wss://10.0.0.2:12345/remote_pay": "tok-2"}
    assert [p.name for p in path.parent.iterdir()] == ["terminals.json"]  # no temp left


def test_a_file_that_is_not_a_json_object_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "terminals.json"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"terminals\.json"):
        KeyedFileTokenStore(path, "k").load()
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not a JSON object"):
        KeyedFileTokenStore(path, "k").save("t")
    assert path.read_text() == "{not json"  # nothing lost
