"""The daily e-mail's text and HTML parts, rendered from templates/email/digest.txt and digest.html; the sections
come from tracker.clinical.digest. Its own Jinja environment, not the app's: the builder and the sender run in the
scheduler and the CLI as well as in requests, and the escaping is decided here, by file name, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_eval_context, select_autoescape
from markupsafe import Markup

from tracker.clinical.digest import Digest
from tracker.formats import fmt_date


@pass_eval_context
def _escape_as_always(eval_ctx, value):
    """In the HTML part, every value escaped by html.escape (&#x27;, &quot;), as the e-mail was before it moved into
    templates, so the same data still makes the same bytes; the text part prints values as they are."""
    if eval_ctx.autoescape and not isinstance(value, Markup):
        return Markup(escape(str(value)))  # nosec B704: the value is escaped on this line, as the docstring says
    return value


_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent.parent / "templates" / "email"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
    undefined=StrictUndefined,
    finalize=_escape_as_always,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_ENV.filters.update(date=fmt_date, weekday=lambda day: f"{day:%A}")


@dataclass(frozen=True)
class DigestEmail:
    subject: str
    text: str
    html: str
    counts: dict[str, int]

    @property
    def nothing_due(self) -> bool:
        return not any(self.counts.values())


def render(digest: Digest) -> DigestEmail:
    """One recipient's e-mail, ready for the outbox."""
    return DigestEmail(
        digest.subject,
        _ENV.get_template("digest.txt").render(digest=digest),
        _ENV.get_template("digest.html").render(digest=digest),
        digest.counts,
    )


def with_note(text: str, html: str, note: str) -> tuple[str, str]:
    """The stored text and HTML parts with `note` first: the text's first line, the HTML body's first paragraph."""
    body = html.find("<body")
    cut = html.find(">", body) + 1 if body >= 0 else 0
    return f"{note}\n\n{text}", f"{html[:cut]}<p><strong>{escape(note)}</strong></p>{html[cut:]}"
