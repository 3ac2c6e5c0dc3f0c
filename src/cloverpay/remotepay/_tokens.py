"""Where the pairing token lives between runs (pluggable)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["FileTokenStore", "KeyedFileTokenStore", "MemoryTokenStore", "TokenStore"]


@runtime_checkable
class TokenStore(Protocol):
    """Keeps the device's authentication token, so the next connection pairs without
    a code. Implementations must not log the token."""

    def load(self) -> str | None: ...

    def save(self, token: str | None) -> None: ...


class MemoryTokenStore:
    """Token kept in memory only (lost when the process ends)."""

    def __init__(self, token: str | None = None) -> None:
        self._token = token

    def __repr__(self) -> str:
        return f"MemoryTokenStore(has_token={self._token is not None})"

    def load(self) -> str | None:
        return self._token

    def save(self, token: str | None) -> None:
        self._token = token


class FileTokenStore:
    """Token in a file readable by the owner only (mode 0600)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    def load(self) -> str | None:
        try:
            token = self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return token or None

    def save(self, token: str | None) -> None:
        if token is None:
            self.path.unlink(missing_ok=True)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(token)


class KeyedFileTokenStore:
    """Tokens of several devices in one JSON file (``{"<key>": "<token>"}``), readable
    by the owner only (0600, written atomically); this store reads and writes the
    entry of ``key``, e.g. the device URL. The CLI keeps its tokens this way."""

    def __init__(self, path: str | os.PathLike[str], key: str) -> None:
        self.path = Path(path)
        self.key = key

    def __repr__(self) -> str:
        return f"KeyedFileTokenStore({str(self.path)!r}, key={self.key!r})"

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (ValueError, UnicodeDecodeError):
            raise ValueError(f"token file {str(self.path)!r} is not a JSON object") from None
        if not isinstance(data, dict):
            raise ValueError(f"token file {str(self.path)!r} is not a JSON object")
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}

    def load(self) -> str | None:
        return self._read().get(self.key) or None

    def save(self, token: str | None) -> None:
        data = self._read()
        if token is None:
            if data.pop(self.key, None) is None:
                return
        else:
            data[self.key] = token
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
        os.replace(tmp, self.path)
