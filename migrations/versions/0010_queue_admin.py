"""queue administration: admin keys, paused queues, workers seen, retried jobs

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-03 13:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_keys') as batch:
        batch.add_column(sa.Column('admin', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('retry_of', sa.Uuid(), nullable=True))
        batch.create_foreign_key('fk_jobs_retry_of_jobs', 'jobs', ['retry_of'], ['id'], ondelete='SET NULL')
    op.create_table(
        'queue_pauses',
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('paused_by', sa.String(length=64), nullable=False),
        sa.Column('paused_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('kind', name=op.f('pk_queue_pauses')),
    )
    op.create_table(
        'workers_seen',
        sa.Column('worker_id', sa.String(length=255), nullable=False),
        sa.Column('kinds', sa.JSON(), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('worker_id', name=op.f('pk_workers_seen')),
    )


def downgrade() -> None:
    op.drop_table('workers_seen')
    op.drop_table('queue_pauses')
    with op.batch_alter_table('jobs') as batch:
        batch.drop_constraint('fk_jobs_retry_of_jobs', type_='foreignkey')
        batch.drop_column('retry_of')
    with op.batch_alter_table('api_keys') as batch:
        batch.drop_column('admin')
