"""datasets and adapters

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 14:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('datasets',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=True),
    sa.Column('total_bytes', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_datasets'))
    )
    op.create_index(op.f('ix_datasets_owner_created_at'), 'datasets', ['owner', 'created_at'], unique=False)
    op.create_table('dataset_files',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('dataset_id', sa.Uuid(), nullable=False),
    sa.Column('index', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('storage_key', sa.String(length=1024), nullable=False),
    sa.Column('content_type', sa.String(length=128), nullable=False),
    sa.Column('bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('caption', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_dataset_files_dataset_id_datasets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dataset_files')),
    sa.UniqueConstraint('dataset_id', 'index', name=op.f('uq_dataset_files_dataset_id_index'))
    )
    op.create_table('adapters',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('base_model', sa.String(length=255), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('training_job_id', sa.Uuid(), nullable=False),
    sa.Column('artifact_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['artifact_id'], ['artifacts.id'], name=op.f('fk_adapters_artifact_id_artifacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['training_job_id'], ['jobs.id'], name=op.f('fk_adapters_training_job_id_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adapters')),
    sa.UniqueConstraint('training_job_id', name=op.f('uq_adapters_training_job_id'))
    )
    op.create_index(op.f('ix_adapters_owner_created_at'), 'adapters', ['owner', 'created_at'], unique=False)
    # The generated text of a textgen job's artifacts, returned in the job's JSON.
    op.add_column('artifacts', sa.Column('text', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('artifacts', 'text')
    op.drop_index(op.f('ix_adapters_owner_created_at'), table_name='adapters')
    op.drop_table('adapters')
    op.drop_table('dataset_files')
    op.drop_index(op.f('ix_datasets_owner_created_at'), table_name='datasets')
    op.drop_table('datasets')
