"""supervision and channels

state.working_days and the holiday table (the service-guarantee clocks count working days);
grievance (opened by a rating of 1-2, closed by a supervisor with a note); fee_declaration
(what an agent says they took in on a day, reconciled with the ledger); api_client (the
channels that call /api/v1, their keys hashed).

Revision ID: e7b1c4f9a2d6
Revises: d5a8e3f1c702
Create Date: 2026-12-01 00:40:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


# revision identifiers, used by Alembic.
revision: str = 'e7b1c4f9a2d6'
down_revision: Union[str, None] = 'd5a8e3f1c702'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_TEXT = sqlmodel.sql.sqltypes.AutoString
_WEEK = '["mon", "tue", "wed", "thu", "fri", "sat"]'


def upgrade() -> None:
    with op.batch_alter_table('state', schema=None) as batch_op:
        # A plain string default: an expression would make SQLite rebuild the table.
        batch_op.add_column(sa.Column('working_days', sa.JSON(), nullable=False, server_default=_WEEK))

    op.create_table('holiday',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('state_code', _TEXT(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('name', _TEXT(length=120), nullable=False),
    sa.ForeignKeyConstraint(['state_code'], ['state.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('state_code', 'day')
    )
    with op.batch_alter_table('holiday', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_holiday_state_code'), ['state_code'], unique=False)

    op.create_table('grievance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('state_code', _TEXT(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('feedback_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('rating', sa.Integer(), nullable=False),
    sa.Column('comment', _TEXT(), nullable=False),
    sa.Column('status', sa.Enum('open', 'closed', name='grievancestatus', native_enum=False, length=24), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', _TEXT(length=80), nullable=True),
    sa.Column('note', _TEXT(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.ForeignKeyConstraint(['feedback_id'], ['feedback.id'], ),
    sa.ForeignKeyConstraint(['request_id'], ['doorstep_request.id'], ),
    sa.ForeignKeyConstraint(['state_code'], ['state.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('feedback_id')
    )
    with op.batch_alter_table('grievance', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_grievance_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grievance_opened_at'), ['opened_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_grievance_request_id'), ['request_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_grievance_state_code'), ['state_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_grievance_status'), ['status'], unique=False)

    op.create_table('fee_declaration',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('cash_paise', sa.Integer(), nullable=False),
    sa.Column('upi_paise', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', _TEXT(), nullable=False),
    sa.Column('note', _TEXT(), nullable=False),
    sa.Column('idempotency_key', _TEXT(length=80), nullable=True),
    sa.ForeignKeyConstraint(['agent_id'], ['agent.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('fee_declaration', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fee_declaration_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fee_declaration_day'), ['day'], unique=False)

    op.create_table('api_client',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('state_code', _TEXT(), nullable=False),
    sa.Column('name', _TEXT(length=80), nullable=False),
    sa.Column('key_prefix', _TEXT(length=16), nullable=False),
    sa.Column('key_hash', _TEXT(length=64), nullable=False),
    sa.Column('rate_per_minute', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', _TEXT(length=80), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_by', _TEXT(length=80), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['state_code'], ['state.code'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_prefix'),
    sa.UniqueConstraint('state_code', 'name')
    )
    with op.batch_alter_table('api_client', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_client_state_code'), ['state_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('api_client', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_client_state_code'))
    op.drop_table('api_client')
    with op.batch_alter_table('fee_declaration', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fee_declaration_day'))
        batch_op.drop_index(batch_op.f('ix_fee_declaration_agent_id'))
    op.drop_table('fee_declaration')
    with op.batch_alter_table('grievance', schema=None) as batch_op:
        for name in ('status', 'state_code', 'request_id', 'opened_at', 'agent_id'):
            batch_op.drop_index(batch_op.f(f'ix_grievance_{name}'))
    op.drop_table('grievance')
    with op.batch_alter_table('holiday', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_holiday_state_code'))
    op.drop_table('holiday')
    with op.batch_alter_table('state', schema=None) as batch_op:
        batch_op.drop_column('working_days')
