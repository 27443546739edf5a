"""trial bolus warnings: what the bolus form showed and the nurse acknowledged before saving

Revision ID: 0013
Revises: 0012

Nullable: boluses recorded before the checks existed have none.
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("trial_bolus") as batch:
        batch.add_column(sa.Column("warnings", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("trial_bolus", reflect_kwargs={"resolve_fks": False}) as batch:  # see 0010
        batch.drop_column("warnings")
