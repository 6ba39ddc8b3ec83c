"""a1111_options: each owner's AUTOMATIC1111 settings (sd_model_checkpoint)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 13:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'a1111_options',
        sa.Column('owner', sa.String(length=64), nullable=False),
        sa.Column('sd_model_checkpoint', sa.String(length=255), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('owner', name=op.f('pk_a1111_options')),
    )


def downgrade() -> None:
    op.drop_table('a1111_options')
