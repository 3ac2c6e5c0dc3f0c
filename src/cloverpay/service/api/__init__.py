"""The REST JSON API (FastAPI): ``create_app(settings)``; OpenAPI at ``/openapi.json``."""

from cloverpay.service.api.app import create_app

__all__ = ["create_app"]
