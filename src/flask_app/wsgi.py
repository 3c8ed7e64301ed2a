"""The WSGI entry point gunicorn loads: ``flask_app.wsgi:app``.

The app starts not-ready; gunicorn's ``post_worker_init`` hook marks each worker
ready once it has fully booted (see gunicorn.conf.py).
"""

from flask_app import create_app

app = create_app({"DEFER_READY": True})
