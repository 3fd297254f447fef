"""Run by tests/engine/test_distributed.py under torchrun: train a config to step N on this process, then
save this rank's weights and its evaluation (gathered over ranks) to OUT/rank<R>.pt.

    python -m torch.distributed.run --nproc_per_node=2 tests/engine/ddp_worker.py CONFIG N OUT
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script by torchrun

from detector.core.config import load_config  # noqa: E402
from detector.core.distributed import init_distributed, shutdown  # noqa: E402
from detector.engine.setup import build_trainer  # noqa: E402

if __name__ == "__main__":
    config, steps, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    info = init_distributed()
    trainer = build_trainer(load_config(config, []))
    trainer.fit(until=steps)
    stats = trainer.evaluate().stats
    torch.save({"model": trainer.model.state_dict(), "stats": stats, "world": info.world},
               out / f"rank{info.rank}.pt")
    shutdown()
