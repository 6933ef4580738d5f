"""field work: itineraries, feedback, agents' PINs, opt-outs, visits at risk

Revision ID: 7f3c9b2e1d40
Revises: 5e1d0a7c3b21
Create Date: 2026-11-30 17:00:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel
import dispatch.db


# revision identifiers, used by Alembic.
revision: str = '7f3c9b2e1d40'
down_revision: Union[str, None] = '5e1d0a7c3b21'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('itinerary',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('visits', sa.JSON(), nullable=False),
    sa.Column('sent_at', dispatch.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updates', sa.Integer(), nullable=False),
    sa.Column('plan_version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('agent_id', 'day')
    )
    with op.batch_alter_table('itinerary', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_itinerary_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_itinerary_day'), ['day'], unique=False)

    op.create_table('feedback',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('asked_at', dispatch.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('call_placed_at', dispatch.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
    sa.Column('answered_at', dispatch.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['request_id'], ['doorstep_request.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_id')
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_agent_id'), ['agent_id'], unique=False)

    with op.batch_alter_table('agent', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pin_hash', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))

    with op.batch_alter_table('citizen', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sms_opt_out', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('doorstep_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('at_risk', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('visit_command', schema=None) as batch_op:
        batch_op.alter_column('use_case',
               existing_type=sa.Enum('book', 'reschedule', 'cancel', name='usecase', native_enum=False, length=24),
               type_=sa.Enum('book', 'reschedule', 'cancel', 'arrive', 'complete', 'fail', 'no_show', name='usecase', native_enum=False, length=24),
               existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('visit_command', schema=None) as batch_op:
        batch_op.alter_column('use_case',
               existing_type=sa.Enum('book', 'reschedule', 'cancel', 'arrive', 'complete', 'fail', 'no_show', name='usecase', native_enum=False, length=24),
               type_=sa.Enum('book', 'reschedule', 'cancel', name='usecase', native_enum=False, length=24),
               existing_nullable=False)
    with op.batch_alter_table('doorstep_request', schema=None) as batch_op:
        batch_op.drop_column('at_risk')
    with op.batch_alter_table('citizen', schema=None) as batch_op:
        batch_op.drop_column('sms_opt_out')
    with op.batch_alter_table('agent', schema=None) as batch_op:
        batch_op.drop_column('pin_hash')
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_agent_id'))
    op.drop_table('feedback')
    with op.batch_alter_table('itinerary', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_itinerary_day'))
        batch_op.drop_index(batch_op.f('ix_itinerary_agent_id'))
    op.drop_table('itinerary')
