"""The seed's way: the same app on Flask's built-in development server (debugger off)."""

import os

from flask_app import create_app

if __name__ == "__main__":
    create_app().run(host="127.0.0.1", port=int(os.environ["PORT"]), debug=False, threaded=True)
