"""artifacts: an audio output's sample rate and duration

Revision ID: 0008
Revises: 0009
Create Date: 2026-12-03 13:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('artifacts') as batch:
        batch.add_column(sa.Column('sample_rate', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('duration_seconds', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('artifacts') as batch:
        batch.drop_column('duration_seconds')
        batch.drop_column('sample_rate')
