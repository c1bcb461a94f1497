"""Jobs carry their language; scenes carry the chapter (heading) that starts at them.

Reviewed by hand: both columns are nullable, so existing rows stay valid and the
downgrade only drops them. Batch mode keeps SQLite happy.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('language', sa.String(length=16), nullable=True))
    with op.batch_alter_table('scenes') as batch:
        batch.add_column(sa.Column('chapter', sa.String(length=500), nullable=True))


def downgrade():
    with op.batch_alter_table('scenes') as batch:
        batch.drop_column('chapter')
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('language')
