"""bridge bolus answer: why no bridge bolus was programmed at a concentration change

Revision ID: 0016
Revises: 0015

A refill that changes the concentration records either the bridge bolus programmed (bridge_bolus_mcg, already
there) or the reason none was. Refills recorded before keep "" (not asked then).
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("refill_visit") as batch:
        batch.add_column(sa.Column("bridge_bolus_reason", sa.Text(), nullable=False, server_default=""))


def downgrade():
    with op.batch_alter_table("refill_visit", reflect_kwargs={"resolve_fks": False}) as batch:  # see 0010
        batch.drop_column("bridge_bolus_reason")
