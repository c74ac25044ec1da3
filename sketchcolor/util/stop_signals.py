"""The signals that stop a run cleanly, and the worker-process side of them.

Shared by the training loop (training/checkpoints/preemption.py saves on them) and the loader workers
(data/loading/torch_loader.py ignores them), so neither side imports the other.

Usage: DataLoader(..., worker_init_fn=ignore_stop_signals)
"""

from __future__ import annotations

import signal

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)


def ignore_stop_signals(worker_id: int | None = None) -> None:
    """For loader worker processes: leave the stop signals to the training process.

    SLURM and a terminal's Ctrl-C signal every process of the job or group; a worker killed by
    SIGTERM would make the DataLoader raise before the training process could save.
    """
    for number in HANDLED_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
