"""cloverpay.service: a payments service for CRM/POS software on top of Clover.

Needs the ``service`` extra: ``pip install 'cloverpay[service]'``.

Layout: ``core`` (settings, secrets, crash points), ``db`` (ORM models, engines),
``migrations`` (Alembic, run by ``cloverpay db upgrade``), ``domain`` (state tables),
``services`` (units of work: business rows, audit and outbox commit together),
``api`` (FastAPI app: ``create_app(settings)``), ``invariants`` (the books' checks).

Nothing is imported here, so ``import cloverpay.service`` works without the extra.
"""

__all__: list[str] = []
