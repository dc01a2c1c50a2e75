"""Time the same training step in PyTorch on the CPU, for `npm run bench -- --train`'s side-by-side ratio.

    /usr/bin/python3 weights-tools/bench_train_torch.py --config '<config.json text>' --batch B --seq T --steps N

Builds the readable PyTorch ImageGPT (imagegpt_torch.py) with random weights, then times N steps of what the
runtime's trainer does: forward, mean cross-entropy (labels = ids), backward, clip_grad_norm_(1.0), AdamW (HF
Trainer's grouping, norm gains frozen). Prints one JSON line: {"stepMs": median, "threads": torch threads}.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imagegpt_torch import SOS, ImageGPTConfig, ImageGPTForCausalImageModeling  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="config.json text")
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--seq", type=int, required=True)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    config = ImageGPTConfig.from_hf_dict(json.loads(args.config))
    torch.manual_seed(0)
    model = ImageGPTForCausalImageModeling(config)
    model.train()
    for name, p in model.named_parameters():
        p.requires_grad_("ln_" not in name)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in named if ".bias" not in n]
    no_decay = [p for n, p in named if ".bias" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-4)
    ids = torch.randint(0, SOS, (args.batch, args.seq))
    ids[:, 0] = SOS
    times = []
    for k in range(args.steps + 1):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits, _, _ = model(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for _, p in named], 1.0)
        opt.step()
        if k > 0:  # the first step warms the allocator
            times.append((time.perf_counter() - start) * 1000)
    print(json.dumps({"stepMs": statistics.median(times), "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
