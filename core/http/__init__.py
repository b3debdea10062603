"""HTTP edge: problem+json errors, request context, unit of work, idempotency, health."""
