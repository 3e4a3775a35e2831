"""login throttle

Failed sign-ins are counted per bucket in login_throttle (services/throttle.py) instead of on
the user row, whose failed_logins and locked_until let anyone lock an account out. Pauses
in force when this runs are dropped with the columns.

Revision ID: 605f01c5f320
Revises: 5c05ed8a2f97
Create Date: 2026-12-04 23:54:54.883886

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '605f01c5f320'
down_revision = '5c05ed8a2f97'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'login_throttle',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('alerted_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint('failures >= 0', name=op.f('ck_login_throttle_failures_positive')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_throttle')),
        sa.UniqueConstraint('key', name=op.f('uq_login_throttle_key')),
    )
    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_throttle_updated_at'), ['updated_at'],
                              unique=False)

    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_user_failed_logins_positive'), type_='check')
        batch_op.drop_column('failed_logins')
        batch_op.drop_column('locked_until')


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.create_check_constraint('failed_logins_positive', 'failed_logins >= 0')

    with op.batch_alter_table('login_throttle', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_throttle_updated_at'))
    op.drop_table('login_throttle')
