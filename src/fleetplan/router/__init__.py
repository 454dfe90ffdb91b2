"""An OpenAI-compatible gateway that routes requests across API providers and a self-hosted fleet.

Optional extra: ``pip install fleetplan[router]``. Modules: ``config`` (YAML, validated),
``strategies`` (ordering providers), ``health`` (circuit breaker and active checks), ``limits``
(token buckets), ``state`` (memory or Redis), ``gateway`` (the ASGI app), ``metrics``, ``log``
(SQLite request log), ``simulate`` (policy replay) and ``fake_upstream`` (a fault-injecting
OpenAI-compatible server for tests and benchmarks).
"""
