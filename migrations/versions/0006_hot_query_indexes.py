"""indexes for the hot queries of issue #8: the stage board, the digest's day windows and battery horizon

Revision ID: 0006
Revises: 0005
"""
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_patient_board", "patient", ["stage", "stage_since", "id", "status"]),
    ("ix_stage_event_recorded_at", "stage_event", ["recorded_at"]),
    ("ix_refill_visit_recorded_at", "refill_visit", ["recorded_at"]),
    ("ix_pump_battery_replacement_due", "pump", ["battery_replacement_due"]),
]


def upgrade():
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade():
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
