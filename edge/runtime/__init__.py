"""Node assembly, serving, worker processes, logs and metrics."""
