"""appointment busy limit

No appointment keeps its therapist busy (start to end plus buffer) longer than the longest
service and buffer allowed, 480 + 240 minutes. The availability query relies on it to read
only the appointments that started at most that long before the period it is asked for,
instead of the therapist's whole history. Written in each backend's date arithmetic.

Revision ID: 6fa0405af6e9
Revises: 85f206b71ad0
Create Date: 2026-12-05 05:01:12.512391

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '6fa0405af6e9'
down_revision = '85f206b71ad0'
branch_labels = None
depends_on = None

RULES = {
    'postgresql': "blocked_until <= starts_at + interval '720 minutes'",
    # julianday() of the stored 'YYYY-MM-DD HH:MM:SS' text, both sides computed alike.
    'sqlite': "julianday(blocked_until) <= julianday(starts_at, '+720 minutes')",
}


def upgrade():
    rule = RULES[op.get_bind().dialect.name]
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.create_check_constraint('busy_limit', rule)


def downgrade():
    with op.batch_alter_table('appointment', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_appointment_busy_limit'), type_='check')
