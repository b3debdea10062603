"""Background jobs on arq: a transactional outbox relayed after commit, job status, the worker."""
