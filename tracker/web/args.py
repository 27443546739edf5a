"""Reading the request's arguments: ids, page numbers and dates from the query string or a form, never a 500."""

from datetime import date

from flask import request
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1
EARLIEST, LATEST = date(1900, 1, 1), date(2200, 12, 31)


def int_arg(name: str) -> int | None:
    """A positive id or page number from the query string; anything else is ignored, never a 500."""
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and 0 < int(value) <= MAX_ID else None


def date_arg(name: str, default: date) -> date:
    """An ISO date from the query string within a sane range, else the default."""
    try:
        value = date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return default
    return value if EARLIEST <= value <= LATEST else default


def int_arg_form(name: str) -> int | None:
    value = request.form.get(name, "")
    return int(value) if value.isdigit() and int(value) <= MAX_ID else None


class DatabaseId(IntegerConverter):
    """`<int:...>` in every route: ids the database's integer columns can hold. 2^31 and beyond (and a leading
    zero or sign, as before) match no route, so they are a 404, not a 500 from the driver."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)
