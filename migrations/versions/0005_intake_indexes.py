"""Indexes for intake's outbox-name lookups: documents.source_path and jobs.slug.

Every upload asks whether its path already has a name and whether the name it would take
belongs to another path. Without these indexes both queries scan their tables, so an
upload got slower as the library grew (measured ~0.6-1 ms of each upload's server time
at a few thousand jobs, the largest single part after the commit).

Reviewed by hand: plain non-unique indexes, created and dropped the same way on SQLite
and PostgreSQL; no data changes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_documents_source_path'), ['source_path'], unique=False)
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobs_slug'), ['slug'], unique=False)


def downgrade():
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_slug'))
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_documents_source_path'))
