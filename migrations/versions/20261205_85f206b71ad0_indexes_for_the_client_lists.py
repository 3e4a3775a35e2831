"""indexes for the client lists

- Open pain reports: a partial index of the logs with pain the therapist has not yet seen
  (a small fraction of all logs), for the "pain flagged" filter, each row's count and the
  dashboard.
- The newest clients, on the dashboard: user.created_at.
- PostgreSQL only: the client list's order, lower(name) then id, so a page is read from the
  index; and for the client search, pg_trgm and one GIN trigram index over the three searched
  expressions, which `LIKE '%text%'` uses. SQLite cannot reflect an index on an expression,
  so Alembic could not check one there nor keep it through a batch migration's table copy;
  SQLite sorts and scans as before.

Building these reads the tables once and blocks writes to them meanwhile (seconds for
millions of logs); PostgreSQL's CREATE INDEX CONCURRENTLY cannot run inside the migration's
transaction.

Revision ID: 85f206b71ad0
Revises: a3b386f9ccb6
Create Date: 2026-12-05 04:40:31.125430

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '85f206b71ad0'
down_revision = 'a3b386f9ccb6'
branch_labels = None
depends_on = None


def upgrade():
    # Each backend's rendering of the ORM's `pain AND pain_acknowledged_at IS NULL`, so its
    # planner sees the query's condition imply the index's.
    op.create_index('ix_completion_log_open_pain', 'completion_log', ['client_id', 'logged_at'],
                    postgresql_where=sa.text('pain AND pain_acknowledged_at IS NULL'),
                    sqlite_where=sa.text('pain = 1 AND pain_acknowledged_at IS NULL'))
    op.create_index('ix_user_created_at', 'user', ['created_at'])
    if op.get_bind().dialect.name == 'postgresql':
        op.create_index('ix_user_name_order', 'user', [sa.text('lower(name)'), 'id'])
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.execute('CREATE INDEX ix_user_search_trigrams ON "user" USING gin '
                   '(lower(name) gin_trgm_ops, name gin_trgm_ops, email gin_trgm_ops)')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        # The extension stays: other objects may have come to use it since.
        op.drop_index('ix_user_search_trigrams', table_name='user')
        op.drop_index('ix_user_name_order', table_name='user')
    op.drop_index('ix_user_created_at', table_name='user')
    op.drop_index('ix_completion_log_open_pain', table_name='completion_log')
