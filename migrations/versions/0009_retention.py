"""retention: when a job's leftovers and results were swept, when an artifact
expired, an owner's retention overrides, and the indexes the sweep reads

Revision ID: 0009
Revises: 0011
Create Date: 2026-12-03 13:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0011'
branch_labels = None
depends_on = None

LEFTOVERS_UNSWEPT = sa.text("finished_at IS NOT NULL AND leftovers_swept_at IS NULL")
RESULTS_UNSWEPT = sa.text("finished_at IS NOT NULL AND results_swept_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('leftovers_swept_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('results_swept_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('artifacts') as batch:
        batch.add_column(sa.Column('expired_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('owners') as batch:
        batch.add_column(sa.Column('retention', sa.JSON(), nullable=True))
    # CONCURRENTLY on Postgres: submissions and workers go on writing jobs while they build.
    with op.get_context().autocommit_block():
        op.create_index('ix_jobs_finished_at', 'jobs', ['finished_at'], unique=False, postgresql_concurrently=True)
        op.create_index(
            'ix_jobs_leftovers_unswept', 'jobs', ['finished_at'], unique=False,
            postgresql_where=LEFTOVERS_UNSWEPT, sqlite_where=LEFTOVERS_UNSWEPT, postgresql_concurrently=True,
        )
        op.create_index(
            'ix_jobs_results_unswept', 'jobs', ['finished_at'], unique=False,
            postgresql_where=RESULTS_UNSWEPT, sqlite_where=RESULTS_UNSWEPT, postgresql_concurrently=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name in ('ix_jobs_results_unswept', 'ix_jobs_leftovers_unswept', 'ix_jobs_finished_at'):
            op.drop_index(name, table_name='jobs', postgresql_concurrently=True)
    with op.batch_alter_table('owners') as batch:
        batch.drop_column('retention')
    with op.batch_alter_table('artifacts') as batch:
        batch.drop_column('expired_at')
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('results_swept_at')
        batch.drop_column('leftovers_swept_at')
