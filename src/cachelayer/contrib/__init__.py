"""Framework adapters: Starlette/FastAPI, Flask and Django (nothing else imports them)."""
