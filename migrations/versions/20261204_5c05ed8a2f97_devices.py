"""devices

One row per signed-in browser (portal/models/devices.py). Sessions signed in before this
revision carry no device key and are refused by load_user: everyone signs in once more.

Revision ID: 5c05ed8a2f97
Revises: 94847524f37e
Create Date: 2026-12-04 23:44:21.245955

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '5c05ed8a2f97'
down_revision = '94847524f37e'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'device',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('description', sa.String(length=80), nullable=False),
        sa.Column('network', sa.String(length=50), nullable=True),
        sa.Column('remember', sa.Boolean(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_device_user_id_user'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_device')),
        sa.UniqueConstraint('key_hash', name=op.f('uq_device_key_hash')),
    )
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.create_index('ix_device_last_seen_at', ['last_seen_at'], unique=False)
        batch_op.create_index('ix_device_user_id', ['user_id', 'ended_at'], unique=False)


def downgrade():
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_index('ix_device_user_id')
        batch_op.drop_index('ix_device_last_seen_at')
    op.drop_table('device')
