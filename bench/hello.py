"""A bare Flask app, the floor every ratio of the clinic-day mix is measured against: one route, no extensions,
served by gunicorn with the same settings as the tracker (bench/mix.py)."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "hello"
