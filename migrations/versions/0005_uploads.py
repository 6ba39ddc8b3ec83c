"""uploads: input images for image-to-image, inpainting and upscaling

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'uploads',
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('owner', sa.String(length=64), nullable=False),
        sa.Column('storage_key', sa.Text(), nullable=False),
        sa.Column('content_type', sa.String(length=64), nullable=False),
        sa.Column('width', sa.Integer(), nullable=False),
        sa.Column('height', sa.Integer(), nullable=False),
        sa.Column('bytes', sa.BigInteger(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_uploads')),
    )
    op.create_index(op.f('ix_uploads_owner_created_at'), 'uploads', ['owner', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_uploads_owner_created_at'), table_name='uploads')
    op.drop_table('uploads')
