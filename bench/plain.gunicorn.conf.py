# gunicorn's defaults for the minimal-Flask baseline: nothing set here. (Without a
# config file of its own, gunicorn started from the repository root would read the
# service's ./gunicorn.conf.py.)
