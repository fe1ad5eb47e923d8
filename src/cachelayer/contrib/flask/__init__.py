"""Flask adapters of cachelayer."""
