"""refill risk: battery ERI on the pump, the ERI-to-stop window in the catalogue, a 24-hour phone per location,
one clinic time zone (locations lose theirs), one "due soon" setting; locations get a version (edits by admins)

Revision ID: 0011
Revises: 0010

The worklist's horizon setting becomes the clinic's one "due soon" window (worklist, calendar, panel, e-mail).
A stored value is kept under its new name.
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("pump") as batch:
        batch.add_column(sa.Column("eri_on", sa.Date(), nullable=True))
    with op.batch_alter_table("pump_model") as batch:
        batch.add_column(sa.Column("eri_to_stop_days", sa.Integer(), nullable=True))
    # SynchroMed II stops within about 90 days of its elective replacement indicator (domain.md 5).
    op.execute("UPDATE pump_model SET eri_to_stop_days = 90 WHERE battery_life_months IS NOT NULL")
    with op.batch_alter_table("location") as batch:
        batch.add_column(sa.Column("emergency_phone", sa.String(40), nullable=False, server_default=""))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch.drop_column("time_zone")
    op.execute("UPDATE setting SET name = 'due_soon_days' WHERE name = 'worklist_horizon_days'")


def downgrade():
    op.execute("UPDATE setting SET name = 'worklist_horizon_days' WHERE name = 'due_soon_days'")
    with op.batch_alter_table("location") as batch:
        batch.add_column(sa.Column("time_zone", sa.String(60), nullable=False, server_default="America/New_York"))
        batch.drop_column("version")
        batch.drop_column("emergency_phone")
    with op.batch_alter_table("pump_model") as batch:
        batch.drop_column("eri_to_stop_days")
    with op.batch_alter_table("pump", reflect_kwargs={"resolve_fks": False}) as batch:  # see 0010
        batch.drop_column("eri_on")
