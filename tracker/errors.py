"""Error pages: a calm message, never a stack trace."""

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError


def register(app: Flask) -> None:
    def page(code: int, title: str, message: str):
        if request.accept_mimetypes.best == "application/json":
            return {"error": title}, code
        return render_template("error.html", code=code, title=title, message=message), code

    @app.errorhandler(CSRFError)
    def _csrf(error):
        return page(
            400,
            "Form expired",
            "The form was missing its security token or had expired. Go back, reload the page and try again.",
        )

    @app.errorhandler(400)
    def _bad_request(error):
        return page(400, "Bad request", "The request could not be understood.")

    @app.errorhandler(403)
    def _forbidden(error):
        from tracker.auth.permissions import OtherClinic

        if isinstance(error, OtherClinic):
            return page(403, "Another clinic's patient", error.description)
        return page(403, "Not allowed", "Your role does not allow this. Ask an administrator if you need it.")

    @app.errorhandler(404)
    def _not_found(error):
        return page(404, "Not found", "There is nothing at this address.")

    @app.errorhandler(405)
    def _method(error):
        return page(405, "Not allowed", "That action is not available here.")

    @app.errorhandler(500)
    def _server_error(error):
        from tracker.extensions import db

        db.session.rollback()  # the failed transaction must not break the error page too
        return page(500, "Something went wrong", "The error was logged. Nothing was saved from this request.")
