"""The vocalmind service: HTTP API, durable assessment queue, storage and web page.

``create_app(Settings(data_dir=...))`` builds the FastAPI application; ``vocalmind serve``
runs it with uvicorn. See ``docs/service.md``.

Imported lazily: the upload checker's child processes import
``vocalmind.service.quality`` alone, without FastAPI and the routers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vocalmind.service.main import create_app
    from vocalmind.service.settings import Settings

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from vocalmind.service.main import create_app

        return create_app
    if name == "Settings":
        from vocalmind.service.settings import Settings

        return Settings
    raise AttributeError(f"module 'vocalmind.service' has no attribute {name!r}")
