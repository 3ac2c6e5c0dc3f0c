"""Alembic migrations shipped inside the package (``cloverpay db upgrade``)."""
