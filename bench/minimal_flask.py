"""A baseline: the smallest Flask app with the service's two measured routes, nothing else.

Served by plain ``gunicorn -w 2`` (gunicorn's defaults: sync workers, no keep-alive),
as a user starting from Flask's and gunicorn's docs would run it.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return {"service": "flask-app", "version": "0.0.0-dev", "environment": "bench"}


@app.get("/livez")
def livez():
    return {"status": "ok"}
