"""refill_visit.due_date_in_force: the stored due date the worklist showed just before each refill

Revision ID: 0007
Revises: 0006

No backfill: nothing in the database keeps the due dates of past refills (the pump's refill_schedule row is
rewritten at every fill, and its audit rows do not carry the date), so rows recorded before this revision stay
NULL and the quality dashboard recomputes their due date with the refill engine.
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("refill_visit", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_date_in_force", sa.Date(), nullable=True))


def downgrade():
    # reflect_kwargs: see 0010
    with op.batch_alter_table("refill_visit", schema=None, reflect_kwargs={"resolve_fks": False}) as batch_op:
        batch_op.drop_column("due_date_in_force")
