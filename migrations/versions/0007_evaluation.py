"""jobs.result (the figures a job measured) and artifacts.clip_score

Revision ID: 0007
Revises: 0008
Create Date: 2026-12-03 13:45:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('result', sa.JSON(), nullable=True))
    with op.batch_alter_table('artifacts') as batch:
        batch.add_column(sa.Column('clip_score', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('artifacts') as batch:
        batch.drop_column('clip_score')
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('result')
