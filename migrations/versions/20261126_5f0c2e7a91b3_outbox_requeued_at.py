"""outbox: when an undelivered email was sent again

The outbox now keeps retrying for a number of days from when an email was queued; "Send
again" (the therapist's page or `flask send-outbox --retry-failed`) restarts that window,
so the row records when. Nullable: rows never requeued count from created_at, so nothing
needs filling in.

Revision ID: 5f0c2e7a91b3
Revises: 260db7097d98
Create Date: 2026-11-26 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '5f0c2e7a91b3'
down_revision = '260db7097d98'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requeued_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('requeued_at')
