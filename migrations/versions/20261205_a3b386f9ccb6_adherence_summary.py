"""adherence summary

Two derived tables the client list's low adherence filter and the dashboard read instead of
recomputing every client's items and logs on each request (services/adherence_summary.py):
per client, what the current programme prescribes over the first k days of a week; per
client and week, what was done by the end of each day. Filled here from the existing
programmes and logs; `flask rebuild-adherence` does the same at any time.

Revision ID: a3b386f9ccb6
Revises: a125dd1e2173
Create Date: 2026-12-05 03:56:03.065693

"""
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

# revision identifiers, used by Alembic.
revision = 'a3b386f9ccb6'
down_revision = 'a125dd1e2173'
branch_labels = None
depends_on = None

DAYS = range(1, 8)


def upgrade():
    op.create_table(
        'adherence_plan',
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('start_day', sa.Date(), nullable=False),
        *(sa.Column(f'due_{k}', sa.Integer(), nullable=False) for k in DAYS),
        *(sa.CheckConstraint(f'due_{k} >= 0', name=op.f(f'ck_adherence_plan_due_{k}_positive'))
          for k in DAYS),
        sa.ForeignKeyConstraint(['client_id'], ['user.id'],
                                name=op.f('fk_adherence_plan_client_id_user')),
        sa.PrimaryKeyConstraint('client_id', name=op.f('pk_adherence_plan')),
    )
    op.create_table(
        'adherence_week',
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('week_start', sa.Date(), nullable=False),
        *(sa.Column(f'done_{k}', sa.Integer(), nullable=False) for k in DAYS),
        *(sa.CheckConstraint(f'done_{k} >= 0',
                             name=op.f(f'ck_adherence_week_done_{k}_positive'))
          for k in DAYS),
        sa.ForeignKeyConstraint(['client_id'], ['user.id'],
                                name=op.f('fk_adherence_week_client_id_user')),
        sa.PrimaryKeyConstraint('client_id', 'week_start', name=op.f('pk_adherence_week')),
    )
    _fill()


def _fill():
    """Summarise the programmes and logs already there, with the rule's one home (a new
    database has none, and skips this)."""
    bind = op.get_bind()
    if bind.scalar(sa.text('SELECT count(*) FROM programme')) == 0:
        return
    from portal.services import adherence_summary

    name = bind.scalar(sa.text('SELECT timezone FROM practice ORDER BY id LIMIT 1'))
    try:
        zone = ZoneInfo(name or 'Europe/London')
    except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
        zone = ZoneInfo('Europe/London')
    adherence_summary.rebuild(Session(bind=bind), zone, datetime.now(UTC))


def downgrade():
    op.drop_table('adherence_week')
    op.drop_table('adherence_plan')
