"""message threads

Threads between a client and the practice (about an exercise and the programme version the
client was on, an appointment, or nothing in particular) and their messages, with when the
other side read each one; and each user's choice of an email when a message is waiting
(on for everyone who existed before, from the server default).

Revision ID: a3cdbedfd72c
Revises: 325a8a426829
Create Date: 2026-12-10 09:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a3cdbedfd72c'
down_revision = '325a8a426829'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_emails', sa.Boolean(), nullable=False,
                                      server_default=sa.true()))

    op.create_table(
        'message_thread',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('subject', sa.String(length=120), nullable=False),
        sa.Column('exercise_id', sa.Integer(), nullable=True),
        sa.Column('programme_version_id', sa.Integer(), nullable=True),
        sa.Column('appointment_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.Enum('open', 'done', name='thread_status', native_enum=False,
                                    length=10), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_message_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('done_by_id', sa.Integer(), nullable=True),
        sa.CheckConstraint('(exercise_id IS NULL) = (programme_version_id IS NULL)',
                           name=op.f('ck_message_thread_exercise_with_version')),
        sa.CheckConstraint('exercise_id IS NULL OR appointment_id IS NULL',
                           name=op.f('ck_message_thread_one_topic')),
        sa.CheckConstraint('length(subject) > 0',
                           name=op.f('ck_message_thread_subject_not_empty')),
        sa.CheckConstraint("(status = 'done') = (done_at IS NOT NULL)",
                           name=op.f('ck_message_thread_done_when')),
        sa.ForeignKeyConstraint(['client_id'], ['user.id'],
                                name=op.f('fk_message_thread_client_id_user')),
        sa.ForeignKeyConstraint(['exercise_id'], ['exercise.id'],
                                name=op.f('fk_message_thread_exercise_id_exercise')),
        sa.ForeignKeyConstraint(
            ['programme_version_id'], ['programme_version.id'],
            name=op.f('fk_message_thread_programme_version_id_programme_version')),
        sa.ForeignKeyConstraint(['appointment_id'], ['appointment.id'],
                                name=op.f('fk_message_thread_appointment_id_appointment')),
        sa.ForeignKeyConstraint(['done_by_id'], ['user.id'],
                                name=op.f('fk_message_thread_done_by_id_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_message_thread')),
    )
    with op.batch_alter_table('message_thread', schema=None) as batch_op:
        batch_op.create_index('ix_message_thread_client', ['client_id', 'last_message_at'],
                              unique=False)
        batch_op.create_index('ix_message_thread_inbox', ['status', 'last_message_at'],
                              unique=False)

    op.create_table(
        'message',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('thread_id', sa.Integer(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=False),
        sa.Column('from_client', sa.Boolean(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('length(body) > 0', name=op.f('ck_message_body_not_empty')),
        sa.ForeignKeyConstraint(['thread_id'], ['message_thread.id'],
                                name=op.f('fk_message_thread_id_message_thread')),
        sa.ForeignKeyConstraint(['author_id'], ['user.id'],
                                name=op.f('fk_message_author_id_user')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_message')),
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index('ix_message_thread', ['thread_id', 'created_at'], unique=False)
        batch_op.create_index('ix_message_unread', ['from_client', 'read_at', 'thread_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_unread')
        batch_op.drop_index('ix_message_thread')
    op.drop_table('message')
    with op.batch_alter_table('message_thread', schema=None) as batch_op:
        batch_op.drop_index('ix_message_thread_inbox')
        batch_op.drop_index('ix_message_thread_client')
    op.drop_table('message_thread')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('message_emails')
