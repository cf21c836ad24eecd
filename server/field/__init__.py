"""The field app (``field/``, built into ``field/dist/``) served at ``/field/``."""
