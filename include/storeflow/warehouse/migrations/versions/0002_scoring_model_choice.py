"""scoring: which model served each customer and why; the fitted boosted model

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('customer_scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('method_reason', sa.String(length=255), nullable=True))
    with op.batch_alter_table('model_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('artifact', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('model_runs', schema=None) as batch_op:
        batch_op.drop_column('artifact')
    with op.batch_alter_table('customer_scores', schema=None) as batch_op:
        batch_op.drop_column('method_reason')
