"""lifecycle and accounts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 11:40:31.429818
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('owners',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('webhook_secret', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_owners'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=32), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=True),
    sa.Column('requests_per_minute', sa.Integer(), nullable=True),
    sa.Column('max_active_jobs', sa.Integer(), nullable=True),
    sa.Column('daily_image_budget', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['owner'], ['owners.name'], name=op.f('fk_api_keys_owner_owners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash')),
    sa.UniqueConstraint('prefix', name=op.f('uq_api_keys_prefix'))
    )
    op.create_table('job_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_job_events_job_id_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_events'))
    )
    op.create_index(op.f('ix_job_events_job_id_id'), 'job_events', ['job_id', 'id'], unique=False)
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('job_id', sa.Uuid(), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], name=op.f('fk_webhook_deliveries_job_id_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries'))
    )
    op.create_index(op.f('ix_webhook_deliveries_job_id_created_at'), 'webhook_deliveries', ['job_id', 'created_at'], unique=False)
    op.add_column('jobs', sa.Column('max_attempts', sa.Integer(), server_default='3', nullable=False))
    op.add_column('jobs', sa.Column('webhook_events', sa.JSON(), nullable=True))
    op.add_column('jobs', sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('jobs', sa.Column('step_seconds', sa.Float(), nullable=True))
    op.add_column('jobs', sa.Column('retry_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f('ix_jobs_owner_kind_started_at'), 'jobs', ['owner', 'kind', 'started_at'], unique=False)
    op.create_index(op.f('ix_jobs_model_finished_at'), 'jobs', ['model', 'finished_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_jobs_model_finished_at'), table_name='jobs')
    op.drop_index(op.f('ix_jobs_owner_kind_started_at'), table_name='jobs')
    op.drop_column('jobs', 'retry_at')
    op.drop_column('jobs', 'step_seconds')
    op.drop_column('jobs', 'enqueued_at')
    op.drop_column('jobs', 'webhook_events')
    op.drop_column('jobs', 'max_attempts')
    op.drop_index(op.f('ix_webhook_deliveries_job_id_created_at'), table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_index(op.f('ix_job_events_job_id_id'), table_name='job_events')
    op.drop_table('job_events')
    op.drop_table('api_keys')
    op.drop_table('owners')
