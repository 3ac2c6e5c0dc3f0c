"""Route modules of the sandbox.

Every module here exposes ``routes: list[starlette.routing.BaseRoute]`` and is mounted
automatically by :func:`cloverpay.sandbox.create_app` (modules sorted by name; names
starting with ``_`` are skipped). Writing a route:

* state: ``state = state_of(request)`` (:mod:`.._auth`); other domains keep their
  objects in ``state.domain(MyStores)``; take ``state.lock`` around mutations and do
  not ``await`` while holding it;
* auth: ``merchant = require_bearer(request)`` or ``require_api_key(request)``;
* body: ``json_body(request)`` (already parsed; malformed JSON and > 1 MiB bodies never
  reach the route); form posts: ``request.scope["state"]["cloverpay.body"]`` (raw);
* errors: raise :class:`~.._errors.SandboxError` or a helper from :mod:`.._errors`;
  paths under ``PLATFORM_PREFIXES`` render flat ``{"message"}``, others nested;
* after a state change: ``mark_committed(request)`` (idempotency then replays even an
  error response) and ``state.notify("P" | "O" | "C" ..., object_id, kind)``;
* lists: ``page_from_query(request, store.indexes.get(name), kind)`` and
  ``list_envelope(...)`` (:mod:`.._http`);
* times from ``state.clock`` (``now_ms()`` / ``now_s()``), ids from ``state.ids``.
"""
