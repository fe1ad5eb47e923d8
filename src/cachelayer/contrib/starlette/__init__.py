"""Starlette and FastAPI adapters of cachelayer."""
