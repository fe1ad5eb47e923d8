"""Flask integration (Flask-Caching backend: :mod:`cachelayer.contrib.flask.caching`)."""
