"""articles and enquiries

Articles the practice publishes (a draft, or published from a date: a date still to come is
"scheduled"), the addresses an article had before its slug changed (they redirect), enquiries
sent through the public form with the therapist's email replies, the moments of the day each
library exercise suits, and the front page's introduction in the practice settings.

Existing exercises start with no moments and the practice with no introduction (server
defaults), both editable at once.

Revision ID: a125dd1e2173
Revises: a3cdbedfd72c
Create Date: 2026-12-05 03:46:41.178380

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'a125dd1e2173'
down_revision = 'a3cdbedfd72c'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('article',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('title', sa.String(length=150), nullable=False),
    sa.Column('summary', sa.String(length=300), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.Enum('draft', 'published', name='article_status', native_enum=False, length=20), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('exercise_id', sa.Integer(), nullable=True),
    sa.Column('feature_exercise', sa.Boolean(), nullable=False),
    sa.Column('featured_applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status = 'draft' OR published_at IS NOT NULL", name=op.f('ck_article_published_has_date')),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], name=op.f('fk_article_author_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['exercise_id'], ['exercise.id'], name=op.f('fk_article_exercise_id_exercise'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_article')),
    sa.UniqueConstraint('slug', name=op.f('uq_article_slug'))
    )
    with op.batch_alter_table('article', schema=None) as batch_op:
        batch_op.create_index('ix_article_live', ['status', 'published_at'], unique=False)

    op.create_table('article_old_slug',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['article_id'], ['article.id'], name=op.f('fk_article_old_slug_article_id_article'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_article_old_slug')),
    sa.UniqueConstraint('slug', name=op.f('uq_article_old_slug_slug'))
    )
    with op.batch_alter_table('article_old_slug', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_article_old_slug_article_id'), ['article_id'], unique=False)

    op.create_table('enquiry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('consent', sa.Boolean(), nullable=False),
    sa.Column('article_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('new', 'done', name='enquiry_status', native_enum=False, length=20), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status = 'new' OR done_at IS NOT NULL", name=op.f('ck_enquiry_done_has_date')),
    sa.CheckConstraint('consent', name=op.f('ck_enquiry_consent_given')),
    sa.ForeignKeyConstraint(['article_id'], ['article.id'], name=op.f('fk_enquiry_article_id_article'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enquiry'))
    )
    with op.batch_alter_table('enquiry', schema=None) as batch_op:
        batch_op.create_index('ix_enquiry_email', ['email'], unique=False)
        batch_op.create_index('ix_enquiry_status', ['status', 'received_at'], unique=False)

    op.create_table('enquiry_reply',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enquiry_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outbox_message_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['user.id'], name=op.f('fk_enquiry_reply_author_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['enquiry_id'], ['enquiry.id'], name=op.f('fk_enquiry_reply_enquiry_id_enquiry'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['outbox_message_id'], ['outbox_message.id'], name=op.f('fk_enquiry_reply_outbox_message_id_outbox_message'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enquiry_reply'))
    )
    with op.batch_alter_table('enquiry_reply', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_enquiry_reply_enquiry_id'), ['enquiry_id'], unique=False)

    with op.batch_alter_table('exercise', schema=None) as batch_op:
        batch_op.add_column(sa.Column('moments', sa.JSON(), nullable=False,
                                      server_default=sa.text("'[]'")))

    with op.batch_alter_table('practice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('intro', sa.Text(), nullable=False, server_default=''))



def downgrade():
    with op.batch_alter_table('practice', schema=None) as batch_op:
        batch_op.drop_column('intro')

    with op.batch_alter_table('exercise', schema=None) as batch_op:
        batch_op.drop_column('moments')

    with op.batch_alter_table('enquiry_reply', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_enquiry_reply_enquiry_id'))

    op.drop_table('enquiry_reply')
    with op.batch_alter_table('enquiry', schema=None) as batch_op:
        batch_op.drop_index('ix_enquiry_status')
        batch_op.drop_index('ix_enquiry_email')

    op.drop_table('enquiry')
    with op.batch_alter_table('article_old_slug', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_article_old_slug_article_id'))

    op.drop_table('article_old_slug')
    with op.batch_alter_table('article', schema=None) as batch_op:
        batch_op.drop_index('ix_article_live')

    op.drop_table('article')
