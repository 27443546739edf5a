"""FHIR API clients: created and revoked by administrators (audited), found by their bearer token, and every
call recorded in the audit trail with the client as its "who"."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.clinical.errors import DomainError
from tracker.models import ApiClient
from tracker.services import Actor, use_case
from tracker.services.audit import record, snapshot
from tracker.services.sessions import hash_token

FIELDS = ["name", "scope", "revoked_at"]


def clients(session: Session) -> list[ApiClient]:
    """Every client, active first, then by name."""
    return list(session.scalars(select(ApiClient).order_by(ApiClient.revoked_at.is_not(None), ApiClient.name)))


@use_case("API client")
def create_client(session: Session, actor: Actor, name: str, now: datetime) -> tuple[ApiClient, str]:
    """A new client and its token, returned this once (only its hash is kept)."""
    name = name.strip()
    if not name:
        raise DomainError("Name the client (the system that will call the API).", "name")
    if session.scalar(select(ApiClient.id).where(ApiClient.name == name)) is not None:
        raise DomainError("A client with this name exists; choose another name.", "name")
    token = secrets.token_urlsafe(32)
    client = ApiClient(name=name, token_hash=hash_token(token), created_at=now, created_by_id=actor.user_id)
    session.add(client)
    session.flush()
    record(session, actor, "create", "api_client", client.id, None, None, snapshot(client, FIELDS))
    return client, token


@use_case("API client")
def revoke_client(session: Session, actor: Actor, client_id: int, now: datetime) -> ApiClient:
    """The token stops working at once; the client stays for the record."""
    client = session.get(ApiClient, client_id)
    if client is None:
        raise DomainError("No such API client.")
    if client.revoked_at is None:
        before = snapshot(client, FIELDS)
        client.revoked_at, client.revoked_by_id = now, actor.user_id
        record(session, actor, "update", "api_client", client.id, None, before, snapshot(client, FIELDS))
    return client


def client_for_token(session: Session, token: str) -> ApiClient | None:
    """The active client holding this token, or None (no such token, or revoked)."""
    if not token:
        return None
    return session.scalar(
        select(ApiClient).where(ApiClient.token_hash == hash_token(token), ApiClient.revoked_at.is_(None))
    )


@use_case("API read")
def record_read(
    session: Session, client: ApiClient, address: str | None, what: dict, patient_id: int | None, now: datetime
) -> None:
    """One API call in the audit trail (the client, what was read: interaction, resource type, id, how many
    resources; never a value from the record) and the client's last use."""
    client.last_used_at = now
    actor = Actor(user_id=None, role="api", address=address, api_client_id=client.id)
    record(session, actor, "api_read", "fhir_api", None, patient_id, None, what | {"client": client.name})
