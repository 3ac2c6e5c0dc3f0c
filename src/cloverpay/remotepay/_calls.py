"""Request plumbing shared by the connector's calls: waiters, local answers."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Coroutine
from typing import Any, TypeVar

from websockets.exceptions import ConnectionClosed

from ._errors import NotReadyError, OutcomeUnknownError
from ._responses import (
    Response,
    ResponseCode,
)
from ._session import ConnectorSession
from .protocol import (
    Message,
    MessageReceived,
    Method,
)

__all__ = ["Calls"]

R = TypeVar("R", bound=Response)
CONFIG_ERROR = "Merchant Configuration Validation Error"


class Calls(ConnectorSession):
    """Sending a request and waiting for its answer; answers given locally."""

    def submit(self, call: Coroutine[Any, Any, Response | None]) -> asyncio.Task[None]:
        """Listener style: run a request in the background (``connector.submit(
        connector.sale(request))``). Its response goes to ``listener.on_response`` as
        always; an :class:`OutcomeUnknownError` goes to ``listener.on_device_error``
        (code ``OutcomeUnknown``) instead of being lost in the task."""

        async def run() -> None:
            try:
                await call
            except OutcomeUnknownError as exc:
                self._error("COMMUNICATION", "OutcomeUnknown", str(exc))
            except NotReadyError as exc:
                self._error("COMMUNICATION", "NotConnected", str(exc))

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- plumbing ---------------------------------------------------------------------
    async def _request(
        self,
        message: Message,
        response: Method | None,
        timeout: float | None,
        *,
        wait_ack: bool = False,
        **kw: Any,
    ) -> MessageReceived:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[MessageReceived] = loop.create_future()

        def register(mid: str | None) -> None:
            if wait_ack and mid is not None:
                self._waiters.by_ack[mid] = fut
            elif response is not None:
                self._waiters.by_method.setdefault(response, deque()).append(fut)

        try:
            await self._send(message, on_encoded=register, **kw)
        except ConnectionClosed:
            raise OutcomeUnknownError(
                "connection lost while sending; outcome unknown", method=message.method
            ) from None
        try:
            return await self._wait(fut, timeout, method=message.method, external_id=None)
        finally:
            queue = self._waiters.by_method.get(response) if response else None
            if queue is not None and fut in queue:
                queue.remove(fut)

    def _local(self, cls: type[R], result: ResponseCode, reason: str, message: str) -> R:
        return self._answer(cls(success=False, result=result, reason=reason, message=message))

    def _not_ready(self, cls: type[R], call: str, kind: str) -> R:
        prefix = f"In {call}: {kind} - " if kind else f"In {call}: "
        return self._local(
            cls,
            ResponseCode.ERROR,
            "Device Connection Error",
            f"{prefix}The Clover device is not connected.",
        )

    def _answer(self, response: R) -> R:
        self._notify(self.listener.on_response, response)
        return response
