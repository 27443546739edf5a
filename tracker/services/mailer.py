"""Sending e-mail with the standard library's smtplib: a timeout on every connection, TLS with the system's
certificate checks (STARTTLS or SMTPS), and the login from TRACKER_SMTP_URL. Verification is never turned off;
a private CA can be added with TRACKER_SMTP_CA_FILE.

A message is delivered when the server answers 250 to its DATA: that is when the server takes responsibility
for it (RFC 5321, 4.1.1.4). What the server says to QUIT afterwards (a 421, an error, a dropped connection)
changes nothing; it must never make the sender try again."""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)
PLAIN, STARTTLS, TLS = "none", "starttls", "tls"
SCHEMES = {"smtp": (PLAIN, 25), "smtp+starttls": (STARTTLS, 587), "smtps": (TLS, 465)}


class SmtpConfigError(ValueError):
    """TRACKER_SMTP_URL cannot be used as given."""


@dataclass(frozen=True)
class SmtpSettings:
    security: str  # none | starttls | tls
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    timeout_seconds: float = 30.0
    ca_file: str | None = None

    def redacted(self) -> str:
        """For logs and the admin page: never the password."""
        scheme = {PLAIN: "smtp", STARTTLS: "smtp+starttls", TLS: "smtps"}[self.security]
        user = f"{self.username}:***@" if self.username else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def parse_smtp_url(url: str, timeout_seconds: float = 30.0, ca_file: str | None = None) -> SmtpSettings:
    """smtp://host:25 (local relay, no login), smtp+starttls://user:pass@host:587, smtps://user:pass@host:465."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise SmtpConfigError(f"TRACKER_SMTP_URL must start with one of {', '.join(s + '://' for s in SCHEMES)}")
    if not parts.hostname:
        raise SmtpConfigError("TRACKER_SMTP_URL has no host")
    security, default_port = SCHEMES[parts.scheme]
    username = unquote(parts.username) if parts.username else None
    if security == PLAIN and username:
        raise SmtpConfigError("Refusing to send an SMTP password without TLS: use smtp+starttls:// or smtps://")
    return SmtpSettings(
        security,
        parts.hostname,
        parts.port or default_port,
        username,
        unquote(parts.password) if parts.password is not None else None,
        timeout_seconds,
        ca_file,
    )


def tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    """The system's trust store and hostname checks, plus the clinic's own CA when one is configured."""
    context = ssl.create_default_context()
    if settings.ca_file:
        context.load_verify_locations(cafile=settings.ca_file)
    return context


def compose(
    to_address: str, mail_from: str, subject: str, text: str, html: str, message_id: str, date: datetime
) -> EmailMessage:
    """The whole message from stored values only, so a re-send is the same message (Message-ID and Date)."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = mail_from
    message["To"] = Address(addr_spec=to_address)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


def message_id_for(day, user_id: int, mail_from: str) -> str:
    """Stable per (day, recipient)."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
    return f"<itb-digest.{day.isoformat()}.{user_id}@{domain}>"


def is_permanent(error: Exception) -> bool:
    """A 5xx answer about this message will not change on retry; a bad login or a network fault may."""
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return False
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code >= 500
    return False


class SmtpMailer:
    """Sends one message per connection: a few dozen staff a day need no connection reuse."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == TLS:
            return smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=tls_context(s))
        return smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)

    def send(self, message: EmailMessage) -> None:
        """Deliver to the server or raise (smtplib.SMTPException, OSError, ssl.SSLError). Returns once the server
        has accepted the message's DATA; the goodbye after it cannot fail the delivery."""
        s = self.settings
        client = self._connect()
        try:
            client.ehlo()
            if s.security == STARTTLS:
                client.starttls(context=tls_context(s))  # raises if the server does not offer STARTTLS
                client.ehlo()
            if s.username:
                client.login(s.username, s.password or "")
            client.send_message(message)  # returns after the 250 to DATA, raises on any refusal before it
        finally:
            # Not `with client:`: its exit raises on any answer to QUIT but 221, which turned a delivered
            # message into a failure (a 421 at QUIT re-sent it on every retry).
            _goodbye(client, message["Message-ID"])


def _goodbye(client: smtplib.SMTP, message_id: str) -> None:
    """QUIT and close; whatever the server answers, or if it has gone, the outcome is already decided."""
    try:
        code, reply = client.quit()
        if code != 221:
            log.info("SMTP server answered %s to QUIT after %s; the outcome stands", code, message_id)
    except (smtplib.SMTPException, OSError) as error:
        log.info("SMTP goodbye after %s failed (%s); the outcome stands", message_id, type(error).__name__)
    finally:
        client.close()


def mailer_from_config(config) -> SmtpMailer | None:
    """The configured mailer, or None when TRACKER_SMTP_URL is empty (digests then wait in the outbox)."""
    url = config.get("SMTP_URL")
    if not url:
        return None
    return SmtpMailer(parse_smtp_url(url, float(config.get("SMTP_TIMEOUT_SECONDS", 30)), config.get("SMTP_CA_FILE")))
