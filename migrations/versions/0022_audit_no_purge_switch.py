"""audit trail: no purge switch, and TRUNCATE refused (PostgreSQL)

Revision ID: 0022
Revises: 0021

Issue 18: migration 0005's trigger let any transaction that said `SET LOCAL tracker.audit_purge = 'on'` delete
audit rows, so the app's own database login could erase the trail in one statement, and TRUNCATE was not covered.
The function now refuses every change; a statement trigger refuses TRUNCATE. SQLite has no TRUNCATE (its
DELETE trigger from 0005 stands).
"""
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

APPEND_ONLY = """CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'audit_event is append-only: ' || TG_OP || ' refused';
END;
$$ LANGUAGE plpgsql"""
NO_TRUNCATE = """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()"""
# 0005's function, restored on downgrade.
WITH_SWITCH = """CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND coalesce(current_setting('tracker.audit_purge', true), '') = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION USING MESSAGE = 'audit_event is append-only: ' || TG_OP || ' refused';
END;
$$ LANGUAGE plpgsql"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY)
        op.execute(NO_TRUNCATE)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
        op.execute(WITH_SWITCH)
