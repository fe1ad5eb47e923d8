"""Django adapters of cachelayer."""
