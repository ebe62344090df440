"""Rule-free shared kernel: database, unit of work, outbox, jobs, errors, money, observability."""
