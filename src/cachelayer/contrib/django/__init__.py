"""Django adapters."""
