"""The cost ledger: one provider_calls row per paid call (or per call a cache hit saved).

Reviewed by hand: a new table only, so existing rows are untouched and the downgrade
drops it whole. job_id cascades on delete like every other child of jobs and is indexed
(the budget check sums a job's rows before every paid call). Prices are a FLOAT of USD:
SQLite has no exact decimal type, and sub-cent rounding does not matter for a budget.
Counts and the price are checked non-negative on both SQLite and PostgreSQL.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('provider_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=32), nullable=False),
    sa.Column('provider', sa.String(length=64), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('input_tokens', sa.Integer(), nullable=False),
    sa.Column('output_tokens', sa.Integer(), nullable=False),
    sa.Column('images', sa.Integer(), nullable=False),
    sa.Column('audio_tokens', sa.Integer(), nullable=False),
    sa.Column('price_usd', sa.Float(), nullable=False),
    sa.Column('cached', sa.Boolean(), nullable=False),
    sa.Column('outcome', sa.String(length=80), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('detail', sa.String(length=500), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('price_usd >= 0', name='price_not_negative'),
    sa.CheckConstraint('input_tokens >= 0 AND output_tokens >= 0 AND images >= 0 AND audio_tokens >= 0',
                       name='usage_not_negative'),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('provider_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_provider_calls_job_id'), ['job_id'], unique=False)


def downgrade():
    with op.batch_alter_table('provider_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_provider_calls_job_id'))
    op.drop_table('provider_calls')
