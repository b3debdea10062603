"""The arq queues, and which jobs go to which.

A worker keeps a running job's lease in Redis for its queue's longest job timeout: if the worker dies, no
other worker takes the job before the lease runs out. Training runs take hours, so they have a queue (and a
worker) of their own; everything else (webhook deliveries, plugin, retrieval and GMP jobs, all bounded by
jobs.job_timeout_seconds) is handed over about a minute after its worker died.
"""

from __future__ import annotations

from arq.constants import default_queue_name

__all__ = ["JOBS_QUEUE", "QUEUES", "TRAINING_QUEUE", "queue_for"]

JOBS_QUEUE = default_queue_name
TRAINING_QUEUE = "arq:queue:training"
QUEUES = {"jobs": JOBS_QUEUE, "training": TRAINING_QUEUE}

# Jobs that do not run on JOBS_QUEUE (lumen.training.tasks.TRAIN_JOB; tests check the names agree).
_ELSEWHERE = {"training.run": TRAINING_QUEUE}


def queue_for(job: str) -> str:
    return _ELSEWHERE.get(job, JOBS_QUEUE)
