"""corrections: refill visits, dose changes and trial boluses can be voided or corrected (append-only), and
implant details and the battery ERI date keep a history of their corrections

Revision ID: 0014
Revises: 0013

Nullable columns: every existing entry stands (not voided, corrects nothing).
"""
import sqlalchemy as sa
from alembic import op

import tracker.models.types

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

LEDGERS = ("refill_visit", "dose_change", "trial_bolus")
# Batch mode copies each ledger from its reflection; reflecting the tables its keys point to as well reached "user",
# whose expression index uq_user_email_lower SQLite reflection cannot read (a SAWarning on every fresh upgrade).
NO_REFERENCED_TABLES = {"resolve_fks": False}


def upgrade():
    for table in LEDGERS:
        with op.batch_alter_table(table, schema=None, reflect_kwargs=NO_REFERENCED_TABLES) as batch_op:
            batch_op.add_column(sa.Column("voided_at", tracker.models.types.UTCDateTime(timezone=True), nullable=True))
            batch_op.add_column(sa.Column("voided_by_id", sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column("void_reason", sa.Text(), nullable=True))
            batch_op.add_column(sa.Column("corrects_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(op.f(f"fk_{table}_voided_by_id_user"), "user", ["voided_by_id"], ["id"])
            batch_op.create_foreign_key(op.f(f"fk_{table}_corrects_id_{table}"), table, ["corrects_id"], ["id"])
    op.create_table(
        "pump_correction",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pump_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=30), nullable=False),
        sa.Column("old_value", sa.String(length=120), nullable=True),
        sa.Column("new_value", sa.String(length=120), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("corrected_at", tracker.models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("corrected_by_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["corrected_by_id"], ["user.id"], name=op.f("fk_pump_correction_corrected_by_id_user")),
        sa.ForeignKeyConstraint(["pump_id"], ["pump.id"], name=op.f("fk_pump_correction_pump_id_pump")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pump_correction")),
    )
    op.create_index(op.f("ix_pump_correction_pump_id"), "pump_correction", ["pump_id"])


def downgrade():
    op.drop_index(op.f("ix_pump_correction_pump_id"), table_name="pump_correction")
    op.drop_table("pump_correction")
    for table in reversed(LEDGERS):
        with op.batch_alter_table(table, schema=None, reflect_kwargs=NO_REFERENCED_TABLES) as batch_op:
            batch_op.drop_constraint(op.f(f"fk_{table}_corrects_id_{table}"), type_="foreignkey")
            batch_op.drop_constraint(op.f(f"fk_{table}_voided_by_id_user"), type_="foreignkey")
            batch_op.drop_column("corrects_id")
            batch_op.drop_column("void_reason")
            batch_op.drop_column("voided_by_id")
            batch_op.drop_column("voided_at")
