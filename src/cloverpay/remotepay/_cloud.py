"""Cloud Pay Display: reach a device through Clover's cloud (spec §1.2, the JS SDK's
path). Clover is asked to wake the device, answers with a proxy address, and the
websocket then goes to the proxy with the OAuth token as its sub-protocol. There is no
pairing on this path."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import httpx

from ._errors import CloverConnectorError

__all__ = ["CloudError", "CloudSettings", "cloud_websocket_url"]


class CloudError(CloverConnectorError):
    """Clover's cloud refused or could not reach the device. ``reconnect`` says whether
    trying again later can help (a 404 or another POS holding the device: no)."""

    def __init__(self, msg: str, *, reconnect: bool) -> None:
        super().__init__(msg)
        self.reconnect = reconnect


@dataclass(frozen=True, slots=True)
class CloudSettings:
    """What the cloud path needs besides the server URL (``ConnectorConfig.url``, e.g.
    ``https://www.clover.com/`` or ``https://sandbox.dev.clover.com/``)."""

    merchant_id: str
    device_id: str
    access_token: str = field(repr=False)
    friendly_id: str = "unknown"
    """Names this POS to the device; another POS with the same id may be replaced."""
    force_connect: bool = False
    """Take the device even when another POS holds it."""

    def __post_init__(self) -> None:
        for name in ("merchant_id", "device_id", "access_token"):
            if not getattr(self, name):
                raise ValueError(f"cloud {name} is required")


async def cloud_websocket_url(client: httpx.AsyncClient, server: str, cloud: CloudSettings) -> str:
    """Ask Clover to start Cloud Pay Display on the device and check who holds it;
    returns the proxy websocket URL (raises :class:`CloudError`)."""
    base = server if server.endswith("/") else server + "/"
    headers = {"Authorization": f"Bearer {cloud.access_token}"}
    resp = await client.post(
        f"{base}v2/merchant/{quote(cloud.merchant_id, safe='')}/remote_pay",
        json={"deviceId": cloud.device_id.replace("-", ""), "isSilent": True},
        headers=headers | {"Content-Type": "application/json;charset=UTF-8"},
    )
    if resp.status_code == 404:
        raise CloudError("Clover does not know this merchant or device (404)", reconnect=False)
    if resp.status_code >= 400:
        raise CloudError(f"Clover answered {resp.status_code} to the notify call", reconnect=True)
    try:
        body = resp.json()
    except ValueError:
        raise CloudError("the notify answer is not JSON", reconnect=True) from None
    if not isinstance(body, dict) or not isinstance(body.get("host"), str):
        raise CloudError("the notify answer has no proxy host", reconnect=True)
    if body.get("sent") is False:  # a missing 'sent' counts as true (older servers)
        raise CloudError(
            "The device is unreachable or an error has occurred sending the device a "
            "notification to start/connect to Cloud Pay Display.",
            reconnect=True,
        )
    host = body["host"] if body["host"].endswith("/") else body["host"] + "/"
    url = (
        f"{host}support/remote_pay/cs?token={quote(str(body.get('token', '')), safe='')}"
        f"&friendlyId={quote(cloud.friendly_id, safe='')}"
        f"&forceConnect={'true' if cloud.force_connect else 'false'}"
    )
    if body.get("serverIdentifier"):
        url += f"&server={quote(str(body['serverIdentifier']), safe='')}"
    # the JS SDK's OPTIONS probe: who holds the device now?
    parts = urlsplit(url)
    probe = parts._replace(scheme="https" if parts.scheme == "wss" else "http").geturl()
    options = await client.options(probe, headers=headers)
    holder = options.headers.get("X-CLOVER-CONNECTED-ID")
    if holder and not cloud.force_connect and holder != cloud.friendly_id:
        raise CloudError(f"Device is already connected to '{holder}'.", reconnect=False)
    return url
