"""Django integration (cache backend: :mod:`cachelayer.contrib.django.cache`)."""
