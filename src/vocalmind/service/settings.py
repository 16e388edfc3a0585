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
    upload_slots : uploads decoded and checked at the same time (more wait, without holding
        a server thread, so other requests stay fast and memory stays bounded)
    lease_s : how long a claimed assessment stays claimed without a heartbeat (seconds);
        a worker that dies leaves its job to be re-claimed after this
    poll_s : how often an idle worker looks for queued work (seconds)
    session_hours : lifetime of a browser login (hours, at most 7 days)
    max_token_days : longest lifetime an API token may be given (days, at most 365)
    max_body_bytes : largest request body of every route but the upload (bytes; refused
        from ``Content-Length`` before the body is read)
    login_max_failures, login_max_failures_per_address, login_window_s : failed logins
        allowed per account / per client address within the window before further
        attempts are refused (429) until the window has passed
    public_origins : origins (``https://vm.example.org``) under which a reverse proxy
        serves the service, accepted for cookie-authenticated writes besides the request's
        own ``Host``
    min_speech_s : least voiced speech (seconds) a recording must hold to be accepted
    max_clipped_fraction : largest fraction of samples at full scale (clipping) accepted
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
    upload_slots: int = Field(2, ge=1, le=64)
    lease_s: float = Field(120.0, gt=0)
    poll_s: float = Field(0.5, gt=0)
    session_hours: float = Field(12.0, gt=0, le=24 * 7)
    max_token_days: int = Field(90, ge=1, le=365)
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    login_max_failures: int = Field(5, ge=1)
    login_max_failures_per_address: int = Field(20, ge=1)
    login_window_s: float = Field(900.0, gt=0)
    public_origins: list[str] = Field(default_factory=list)
    min_speech_s: float = Field(0.3, ge=0)
    max_clipped_fraction: float = Field(0.01, gt=0, le=1)
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
                env[name] = ([o.strip() for o in raw.split(",") if o.strip()]
                             if name == "public_origins" else raw)
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
        """The bootstrap password from the settings or the environment (None if neither).

        Raises
        ------
        vocalmind.errors.ConfigError
            A given password shorter than the service's minimum (the password itself is
            not repeated in the message).
        """
        from vocalmind.service.auth import MIN_PASSWORD_LENGTH

        pw = self.admin_password or os.environ.get("VOCALMIND_ADMIN_PASSWORD") or None
        if pw is not None and len(pw) < MIN_PASSWORD_LENGTH:
            raise ConfigError(f"the first superuser's password (VOCALMIND_ADMIN_PASSWORD) has "
                              f"{len(pw)} characters; give at least {MIN_PASSWORD_LENGTH}")
        return pw
