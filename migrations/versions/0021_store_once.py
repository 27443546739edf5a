"""store once: one-time form submission keys, and at most one open refill booking per pump

Revision ID: 0021
Revises: 0020

Issue 18: two people booking the same patient at the same moment both succeeded, and identical posts stored
two or ten records. The keys' primary key and the partial unique index make the database refuse the second.
"""
import sqlalchemy as sa
from alembic import op

import tracker.models.types

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "form_submission",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", tracker.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("result_url", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_form_submission_user_id_user")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_form_submission")),
    )
    op.create_index(op.f("ix_form_submission_created_at"), "form_submission", ["created_at"])
    # A pump booked twice by a race keeps its earliest booking open; the others are closed as duplicates first.
    op.execute("""
        UPDATE refill_appointment SET status = 'cancelled', close_reason = 'Duplicate booking closed by migration 0021'
        WHERE status = 'booked' AND id NOT IN (
            SELECT MIN(id) FROM refill_appointment WHERE status = 'booked' GROUP BY pump_id)
    """)
    op.create_index("uq_refill_appointment_open_pump", "refill_appointment", ["pump_id"], unique=True,
                    sqlite_where=sa.text("status = 'booked'"), postgresql_where=sa.text("status = 'booked'"))


def downgrade():
    op.drop_index("uq_refill_appointment_open_pump", table_name="refill_appointment")
    op.drop_index(op.f("ix_form_submission_created_at"), table_name="form_submission")
    op.drop_table("form_submission")
