"""reset requests

A row per "forgot password" request, known address or not, answered by the outbox sender
(services/accounts.answer_reset_requests), so the request itself does the same work either
way.

Revision ID: 325a8a426829
Revises: 605f01c5f320
Create Date: 2026-12-05 00:05:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '325a8a426829'
down_revision = '605f01c5f320'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'reset_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('reset_url', sa.String(length=300), nullable=False),
        sa.Column('invite_url', sa.String(length=300), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reset_request')),
    )


def downgrade():
    op.drop_table('reset_request')
