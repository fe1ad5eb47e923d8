"""Framework adapters: cache backends, sessions and HTTP caching on top of cachelayer."""
