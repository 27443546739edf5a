"""A form's round trip: its version counter, a domain error shown beside its field, and the page rendered again."""

from flask import flash, render_template, request


def render_form(
    template: str, *, shows_result: bool = False, stale: bool = False, refused_status: int = 422, **context
):
    """A form page and its status: 200 when it is first shown (GET) or shows what the post asked for
    (`shows_result`: a preview); otherwise the post comes back refused: 409 when someone else saved first
    (`stale`), else 422 (errors beside the fields) unless `refused_status` says otherwise (403: not this user's)."""
    if request.method == "GET" or shows_result:
        return render_template(template, **context), 200
    return render_template(template, **context), 409 if stale else refused_status


def form_version(field) -> int:
    """The hidden version counter; a tampered value counts as stale (0), never a crash."""
    value = (field.data or "").strip() if isinstance(field.data, str) else field.data
    return int(value) if str(value).isdigit() else 0


def show_error(form, error, rename: dict[str, str] | None = None) -> None:
    """Put a domain error beside its form field (or flash it when it names none), keeping what was typed."""
    name = getattr(error, "field", None)
    name = (rename or {}).get(name, name)
    field = getattr(form, name, None) if name else None
    if field is not None and hasattr(field, "errors") and field.type != "HiddenField":  # hidden: nothing to sit by
        field.errors = list(field.errors) + [error.message]
    else:
        flash(error.message, "error")


def not_saved(form, fresh, fields) -> list[tuple[str, object]]:
    """What the user typed that differs from the values just saved by someone else, to re-apply by hand (a
    choice by its label, not its stored value)."""

    def shown(field):
        return dict(field.choices).get(field.data, field.data) if field.type == "SelectField" else field.data

    return [(form[name].label.text, shown(form[name])) for name in fields if form[name].data != fresh[name].data]
