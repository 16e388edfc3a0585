"""Service settings: where the data lives, which database, upload limits, the worker.

Every value is validated when :class:`Settings` is built (pydantic), so a bad limit or an
unsupported database URL fails at start, not at the first upload.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vocalmind.errors import ConfigError

__all__ = ["Settings"]


class Settings(BaseModel):
    """Configuration of one service instance.

    Parameters
    ----------
    data_dir : folder for the SQLite database (default), the audio store and temporary
        uploads; created if missing
    db_url : SQLAlchemy URL; ``None`` = ``sqlite:///<data_dir>/vocalmind.db``. PostgreSQL:
        ``postgresql+psycopg://user:pass@host:port/db``
    models : run folders (``vocalmind experiment run``) registered as model versions at start
    max_upload_bytes : largest accepted upload (bytes, default 50 MB)
    max_duration_s : longest accepted recording (seconds, default 600)
    min_duration_s : shortest accepted recording (seconds, default 0.5)
    markers : compute the clinical voice markers for each assessment
    worker_threads : assessment worker threads started with the app (0 = none; another
        process may run the queue)
    lease_s : how long a claimed assessment stays claimed without a heartbeat (seconds);
        a worker that dies leaves its job to be re-claimed after this
    poll_s : how often an idle worker looks for queued work (seconds)
    session_hours : lifetime of a browser login (hours)
    admin_username, admin_password : the first superuser, created only if there is no user
        yet; ``None`` password = read ``VOCALMIND_ADMIN_PASSWORD``, else a random one is
        printed once on the console
    secure_cookies : mark the login cookie ``Secure`` (set when served over HTTPS)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path
    db_url: str | None = None
    models: list[Path] = Field(default_factory=list)
    max_upload_bytes: int = Field(50_000_000, gt=0)
    max_duration_s: float = Field(600.0, gt=0)
    min_duration_s: float = Field(0.5, ge=0)
    markers: bool = True
    worker_threads: int = Field(1, ge=0, le=16)
    lease_s: float = Field(120.0, gt=0)
    poll_s: float = Field(0.5, gt=0)
    session_hours: float = Field(12.0, gt=0)
    admin_username: str = "admin"
    admin_password: str | None = None
    secure_cookies: bool = False

    @field_validator("db_url")
    @classmethod
    def _known_backend(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("sqlite", "postgresql")):
            raise ConfigError(f"db_url={v.split('://')[0]}://...: only sqlite:/// and "
                              "postgresql+psycopg:// URLs are supported")
        return v

    @model_validator(mode="after")
    def _durations(self) -> Settings:
        if self.min_duration_s >= self.max_duration_s:
            raise ConfigError(f"min_duration_s={self.min_duration_s} must be below "
                              f"max_duration_s={self.max_duration_s}")
        return self

    @classmethod
    def from_env(cls, **values: object) -> Settings:
        """Settings from ``values``, other fields from ``VOCALMIND_<FIELD>`` variables.

        Example: ``VOCALMIND_MAX_UPLOAD_BYTES=20000000 VOCALMIND_LEASE_S=60``. Values given
        here win over the environment.
        """
        env = {}
        for name in cls.model_fields:
            raw = os.environ.get(f"VOCALMIND_{name.upper()}")
            if raw is not None and name not in values and name != "models":
                env[name] = raw
        return cls(**env, **values)

    @property
    def database_url(self) -> str:
        """The effective SQLAlchemy URL."""
        return self.db_url or f"sqlite:///{(self.data_dir / 'vocalmind.db').resolve()}"

    @property
    def audio_dir(self) -> Path:
        """Root of the content-addressed audio store."""
        return self.data_dir / "audio"

    @property
    def upload_dir(self) -> Path:
        """Where uploads are spooled while being checked (same file system as the store)."""
        return self.data_dir / "uploads"

    def initial_admin_password(self) -> str | None:
        """The bootstrap password from the settings or the environment (None if neither)."""
        return self.admin_password or os.environ.get("VOCALMIND_ADMIN_PASSWORD") or None
