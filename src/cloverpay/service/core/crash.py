"""Named crash points for crash tests (RELIABILITY.md scenario 1).

``CLOVERPAY_CRASH_AT=after_charge_sent`` makes the process kill itself with SIGKILL
when it reaches :func:`crash_point("after_charge_sent")`: no cleanup, no commit, like
a power cut. Unset (the normal case) it costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

__all__ = ["CRASH_POINTS", "crash_point"]

#: The named points, in the order the money path reaches them.
CRASH_POINTS = (
    "after_intent_committed",  # the attempt row is committed; nothing sent yet
    "after_charge_sent",  # Clover answered (money moved); nothing recorded yet
    "after_refund_sent",
    "billing_after_invoice_created",  # a subscription period's invoice is committed
    "billing_after_charge_settled",  # the period's charge is settled; subscription not yet
    "webhook_before_processed_commit",  # a webhook's effect applied, not yet committed
    "after_terminal_sale_answered",  # the device answered a sale (charged); not recorded
    "after_terminal_op_answered",  # the device answered a refund / void; not recorded
)


def crash_point(name: str) -> None:
    if os.environ.get("CLOVERPAY_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
