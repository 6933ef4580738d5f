"""sms sending well: retries with backoff, delivery reports, segments, DLT templates

Revision ID: 5e1d0a7c3b21
Revises: 632234413ee2
Create Date: 2026-12-01 09:00:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel
import dispatch.db


# revision identifiers, used by Alembic.
revision: str = '5e1d0a7c3b21'
down_revision: Union[str, None] = '632234413ee2'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failures', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('next_attempt_at', dispatch.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('segments', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('encoding', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch_op.add_column(sa.Column('template', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch_op.add_column(sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch_op.add_column(sa.Column('dlt_template_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('provider_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('error_code', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column('reported_at', dispatch.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_message_provider_id'), ['provider_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_message_provider_id'))
        batch_op.drop_column('reported_at')
        batch_op.drop_column('last_error')
        batch_op.drop_column('error_code')
        batch_op.drop_column('provider_status')
        batch_op.drop_column('dlt_template_id')
        batch_op.drop_column('language')
        batch_op.drop_column('template')
        batch_op.drop_column('encoding')
        batch_op.drop_column('segments')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('failures')
