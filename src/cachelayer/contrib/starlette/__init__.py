"""Starlette and FastAPI adapters."""
