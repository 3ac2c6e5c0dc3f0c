"""``/v1/audit_log``: every state change, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from cloverpay.service.api.deps import Ctx, CurrentPrincipal
from cloverpay.service.api.schemas import AuditEntryOut
from cloverpay.service.api.views import audit_out
from cloverpay.service.db import AuditLog

router = APIRouter(prefix="/v1/audit_log", tags=["audit"])


@router.get("")
def list_audit(
    ctx: Ctx,
    who: CurrentPrincipal,
    entity_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> list[AuditEntryOut]:
    with ctx.sessions() as s:
        stmt = select(AuditLog).where(AuditLog.merchant_id == who.merchant_id)
        if entity_id is not None:
            stmt = stmt.where(AuditLog.entity_id == entity_id)
        if before_id is not None:
            stmt = stmt.where(AuditLog.id < before_id)
        rows = s.scalars(stmt.order_by(AuditLog.id.desc()).limit(limit)).all()
        return [audit_out(r) for r in rows]
