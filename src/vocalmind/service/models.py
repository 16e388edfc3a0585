"""Database tables (SQLAlchemy 2 declarative mapping).

Participants are pseudonymous: a participant row holds a study-chosen *code* (``P017``)
and nothing else about the person -- there is no name, birth date or questionnaire column,
so none can be stored. Deleting a participant cascades (in the database and in the ORM) to
its sessions, recordings, assessments and their executions.

The schema is created by the Alembic migrations in ``migrations/versions``; these classes
must match them (``tests/service/test_db.py`` checks that with Alembic's comparator).
"""

from __future__ import annotations

import datetime as _dt
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Assessment", "AuditEvent", "Base", "Execution", "Membership", "ModelVersion", "Participant",
           "Recording", "Session", "Study", "Token", "User", "utcnow"]

ROLES = ("admin", "rater")
STATUSES = ("queued", "running", "done", "failed")


def utcnow() -> datetime:
    """Timezone-aware UTC now (stored as UTC on both backends)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of the service tables."""


class User(Base):
    """A member of staff who logs in (raters, study admins)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: set when a superuser disables the account: it can no longer log in, its tokens are gone
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True)


class Token(Base):
    """A bearer token or a login session; only the SHA-256 of the secret is stored."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "api" or "session"
    label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    user: Mapped[User] = relationship()


class Study(Base):
    """A study; every participant, session and recording belongs to exactly one."""

    __tablename__ = "studies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    participants: Mapped[list[Participant]] = relationship(
        back_populates="study", cascade="all, delete-orphan", passive_deletes=True)
    memberships: Mapped[list[Membership]] = relationship(
        back_populates="study", cascade="all, delete-orphan", passive_deletes=True)


class Membership(Base):
    """A user's role in one study: ``admin`` or ``rater``."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "study_id", name="uq_membership"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    user: Mapped[User] = relationship(back_populates="memberships")
    study: Mapped[Study] = relationship(back_populates="memberships")


class Participant(Base):
    """A pseudonymous participant of a study (a code, never a name)."""

    __tablename__ = "participants"
    __table_args__ = (UniqueConstraint("study_id", "code", name="uq_participant_code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    study: Mapped[Study] = relationship(back_populates="participants")
    sessions: Mapped[list[Session]] = relationship(
        back_populates="participant", cascade="all, delete-orphan", passive_deletes=True,
        order_by="Session.index")


class Session(Base):
    """One recording session of a participant (e.g. a therapy week); ``index`` orders them."""

    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("participant_id", "index", name="uq_session_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(40))
    #: the day the session took place (set by the study team; defaults to the upload day)
    date: Mapped[_dt.date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    participant: Mapped[Participant] = relationship(back_populates="sessions")
    recordings: Mapped[list[Recording]] = relationship(
        back_populates="session", cascade="all, delete-orphan", passive_deletes=True)


class Recording(Base):
    """An uploaded recording: content hash, where the bytes are, and what the header says."""

    __tablename__ = "recordings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"),
                                            index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    path: Mapped[str] = mapped_column(String(256))  # relative to the data folder
    n_bytes: Mapped[int] = mapped_column(Integer)
    duration_s: Mapped[float] = mapped_column(Float)
    sample_rate: Mapped[int] = mapped_column(Integer)
    channels: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    session: Mapped[Session] = relationship(back_populates="recordings")
    assessments: Mapped[list[Assessment]] = relationship(
        back_populates="recording", cascade="all, delete-orphan", passive_deletes=True)


class ModelVersion(Base):
    """A registered run folder: its path, the SHA-256 of its ``model.json`` and what it does."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("path", "model_sha256", name="uq_model_version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String(1024))
    model_sha256: Mapped[str] = mapped_column(String(64))
    task: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(64))
    corpus: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Assessment(Base):
    """One model applied to one recording; a row of the durable work queue.

    ``status`` goes queued -> running -> done | failed. A worker claims a queued row (or a
    running row whose lease expired) by setting ``lease_owner``/``lease_until``; it may
    finish the row only while it still holds the lease.
    """

    __tablename__ = "assessments"
    __table_args__ = (Index("ix_assessments_queue", "status", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recording_id: Mapped[int] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    recording: Mapped[Recording] = relationship(back_populates="assessments")
    model_version: Mapped[ModelVersion] = relationship()


class Execution(Base):
    """The committed execution of an assessment; unique per assessment (exactly once)."""

    __tablename__ = "executions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assessment_id: Mapped[int] = mapped_column(
        ForeignKey("assessments.id", ondelete="CASCADE"), unique=True)
    worker: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEvent(Base):
    """Who did what to whom: member changes, user disabling, deletions, password changes.

    Holds usernames, study ids and participant *codes* (pseudonyms) only; no foreign keys,
    so the record outlives what it describes (a deleted participant, a disabled user).
    """

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str | None] = mapped_column(String(64), nullable=True)
    action: Mapped[str] = mapped_column(String(48))
    study_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    target: Mapped[str | None] = mapped_column(String(128), nullable=True)
