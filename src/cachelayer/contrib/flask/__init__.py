"""Flask adapters."""
