"""Job leases, retry times, cancel requests; job states canceled and skipped.

Jobs carry a lease (owner, expiry, heartbeat), the time of their next attempt and a
cancel request.

Reviewed by hand: every new column is nullable or has a server default, so existing rows
stay valid. The job_status CHECK constraint is rebuilt through alter_column with the old
and the new Enum, which Alembic turns into drop-and-create on PostgreSQL and a table copy
in SQLite's batch mode. Downgrade first moves canceled/skipped jobs back to failed, so the
old constraint holds again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

OLD_STATES = ('queued', 'running', 'succeeded', 'failed')
NEW_STATES = OLD_STATES + ('canceled', 'skipped')


def _status(states):
    return sa.Enum(*states, name='job_status', native_enum=False, create_constraint=True, length=16)


def upgrade():
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('lease_owner', sa.String(length=128), nullable=True))
        batch.add_column(sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('cancel_requested', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.alter_column('status', existing_type=_status(OLD_STATES), type_=_status(NEW_STATES),
                           existing_nullable=False)


def downgrade():
    op.execute("UPDATE jobs SET status = 'failed' WHERE status IN ('canceled', 'skipped')")
    with op.batch_alter_table('jobs') as batch:
        batch.alter_column('status', existing_type=_status(NEW_STATES), type_=_status(OLD_STATES),
                           existing_nullable=False)
        batch.drop_column('cancel_requested')
        batch.drop_column('next_attempt_at')
        batch.drop_column('heartbeat_at')
        batch.drop_column('lease_expires_at')
        batch.drop_column('lease_owner')
