"""client upcoming limit

The most upcoming booked sessions one client may hold when booking online. Existing
practices get the default, 4, from the server default; the CHECK keeps it between 1 and 50
as the settings form and the diary service do.

Revision ID: 136861913937
Revises: 5f0c2e7a91b3
Create Date: 2026-12-04 23:20:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '136861913937'
down_revision = '5f0c2e7a91b3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('practice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_upcoming_per_client', sa.Integer(), nullable=False,
                                      server_default='4'))
        batch_op.create_check_constraint('upcoming_limit_range',
                                         'max_upcoming_per_client BETWEEN 1 AND 50')


def downgrade():
    with op.batch_alter_table('practice', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_practice_upcoming_limit_range'), type_='check')
        batch_op.drop_column('max_upcoming_per_client')
