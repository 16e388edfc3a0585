"""user disabling, session dates, audit log

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as b:
        b.add_column(sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('sessions') as b:
        b.add_column(sa.Column('date', sa.Date(), nullable=True))
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=True),
    sa.Column('target', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_audit_events_study_id'), 'audit_events', ['study_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_audit_events_study_id'), table_name='audit_events')
    op.drop_table('audit_events')
    with op.batch_alter_table('sessions') as b:
        b.drop_column('date')
    with op.batch_alter_table('users') as b:
        b.drop_column('disabled_at')
