"""The vocalmind service: HTTP API, durable assessment queue, storage and web page.

``create_app(Settings(data_dir=...))`` builds the FastAPI application; ``vocalmind serve``
runs it with uvicorn. See ``docs/service.md``.
"""

from vocalmind.service.main import create_app
from vocalmind.service.settings import Settings

__all__ = ["Settings", "create_app"]
