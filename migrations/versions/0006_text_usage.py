"""artifacts: a text output's finish reason and token counts

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('artifacts') as batch:
        batch.add_column(sa.Column('finish_reason', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('prompt_tokens', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('completion_tokens', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('artifacts') as batch:
        batch.drop_column('completion_tokens')
        batch.drop_column('prompt_tokens')
        batch.drop_column('finish_reason')
