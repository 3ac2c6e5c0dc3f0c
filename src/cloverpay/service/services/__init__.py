"""Units of work. Each public function owns its transactions; helpers never commit."""

from cloverpay.service.services.context import ServiceContext
from cloverpay.service.services.reconciler import Reconciler, ReconcileReport

__all__ = ["ReconcileReport", "Reconciler", "ServiceContext"]
