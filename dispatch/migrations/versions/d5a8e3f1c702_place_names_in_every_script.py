"""place names in every script

district.name_ur, and block/village name_hi and name_ur: how Hindi and Urdu prompts read a
place; district/block/village aliases: the other ways a caller or a speech recogniser says it.
Existing places get empty names here; `doorstep seed` fills them from the seed files.

Revision ID: d5a8e3f1c702
Revises: c4d7e2a9b1f3
Create Date: 2026-11-30 22:10:00.000000
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


# revision identifiers, used by Alembic.
revision: str = 'd5a8e3f1c702'
down_revision: Union[str, None] = 'c4d7e2a9b1f3'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _text(name: str) -> sa.Column:
    return sa.Column(name, sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="")


def _aliases() -> sa.Column:
    # A plain string default: an expression would make SQLite rebuild the table.
    return sa.Column('aliases', sa.JSON(), nullable=False, server_default='[]')


def upgrade() -> None:
    with op.batch_alter_table('district', schema=None) as batch_op:
        batch_op.add_column(_text('name_ur'))
        batch_op.add_column(_aliases())
    for table in ('block', 'village'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(_text('name_hi'))
            batch_op.add_column(_text('name_ur'))
            batch_op.add_column(_aliases())


def downgrade() -> None:
    for table in ('village', 'block'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('aliases')
            batch_op.drop_column('name_ur')
            batch_op.drop_column('name_hi')
    with op.batch_alter_table('district', schema=None) as batch_op:
        batch_op.drop_column('aliases')
        batch_op.drop_column('name_ur')
