"""Administration: staff accounts (routes), clinic settings and catalogues (catalogue), the daily e-mail's
delivery (digest) and the audit trail (audit)."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")
