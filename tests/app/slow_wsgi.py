"""The real service plus one slow route, to hold requests in flight during shutdown tests."""

import time

from flask_app import create_app

app = create_app({"DEFER_READY": True})


@app.get("/slow")
def slow():
    time.sleep(float(app.config.get("SLOW_SECONDS", 2.5)))
    return {"slept": True}
