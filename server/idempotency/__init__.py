"""Creates that are safe to retry: the ``Idempotency-Key`` request header (IETF httpapi draft)."""
