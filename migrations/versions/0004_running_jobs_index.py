"""an index of running jobs by owner and kind, for the fair-share claim

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 18:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    # CONCURRENTLY on Postgres: submissions and workers go on writing jobs while it builds.
    with op.get_context().autocommit_block():
        op.create_index(
            'ix_jobs_running_owner_kind', 'jobs', ['owner', 'kind'], unique=False,
            postgresql_where=RUNNING, sqlite_where=RUNNING, postgresql_concurrently=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(
            'ix_jobs_running_owner_kind', table_name='jobs', postgresql_concurrently=True,
        )
