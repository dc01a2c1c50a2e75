"""Train an emoji ImageGPT (HF architecture and names) on CPU, then export it with export.py.

    /usr/bin/python3 weights-tools/train.py --config weights-tools/configs/emoji-16.json --seed 1 [--max-minutes 25]

Steps: load weights-tools/data/emoji-<size>/ (prepare_data.py makes it), fit the 512-color palette by
k-means on the training split's pixels, tokenize every image with HF's quantization, train with AdamW
(linear warmup, cosine decay to 10 %), evaluate train/held-out loss in bits per token at every checkpoint
(weights-tools/runs/<name>/), and finally export to models/<name>/ (or --out).

Sequence convention (OpenAI's, and what HF generate from SOS does): input [SOS, t0 .. t(n-2)],
targets [t0 .. t(n-1)], so n_positions = n image tokens.

Schedule length: with --steps the cosine runs over that many steps. Without it, progress is measured in
wall-clock time against --max-minutes, so a run on a busy shared machine still cools down and ends on time;
the steps actually taken are recorded (re-run with --steps N to get the same schedule by steps).

Speed on these machines (see shared/DATA.md): one torch thread and one OpenBLAS thread; Debian's reference
BLAS is ~30x slower than OpenBLAS, so run with a local OpenBLAS (see models/*/README.md for the command).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from imagegpt_torch import SOS, ImageGPTConfig, ImageGPTForCausalImageModeling, load_hf_state_dict  # noqa: E402
from palette import kmeans_palette, quantize  # noqa: E402

LN2 = math.log(2)


def load_data(size: int):
    folder = os.path.join(HERE, "data", f"emoji-{size}")
    if not os.path.exists(os.path.join(folder, "images.u8")):
        raise FileNotFoundError(f"{folder}/images.u8 missing: run weights-tools/prepare_data.py --sizes {size}")
    with open(os.path.join(folder, "index.json")) as f:
        index = json.load(f)
    pixels = np.fromfile(os.path.join(folder, "images.u8"), dtype=np.uint8)
    if pixels.size != len(index) * size * size * 3:
        raise ValueError(f"{folder}/images.u8 holds {pixels.size} bytes, expected {len(index)} x {size}x{size}x3")
    return pixels.reshape(len(index), size, size, 3), index


def load_init(model_dir: str, size: int) -> dict:
    """Weights and palette of a trained smaller-image model to start from (progressive resizing).

    Everything is copied except the position embeddings, which are upsampled nearest-neighbour from the
    donor's grid (position (y, x) starts from the donor's (y // f, x // f)).
    """
    from export import load_model_dir

    path = model_dir if os.path.isabs(model_dir) else os.path.join(HERE, "..", model_dir)
    donor, clusters, donor_size = load_model_dir(path)
    if size % donor_size:
        raise ValueError(f"cannot upsample positions from {donor_size}x{donor_size} to {size}x{size}")
    f = size // donor_size
    weights = {k: v.detach().clone() for k, v in donor.state_dict().items()}
    wpe = weights["transformer.wpe.weight"].reshape(donor_size, donor_size, -1)
    weights["transformer.wpe.weight"] = wpe.repeat_interleave(f, 0).repeat_interleave(f, 1).reshape(size * size, -1)
    return {"weights": weights, "clusters": clusters, "n_layer": donor.config.n_layer}


def deepen(model: ImageGPTForCausalImageModeling, donor_layers: int) -> None:
    """Blocks past the donor's start as identities: their two output projections are zero, so the residual
    stream passes through unchanged and the deeper model computes exactly what the donor did at step 0."""
    with torch.no_grad():
        for block in model.transformer.h[donor_layers:]:
            for proj in (block.attn.c_proj, block.mlp.c_proj):
                proj.weight.zero_()
                proj.bias.zero_()


def draw_batch(tokens: torch.Tensor, weights: torch.Tensor, flippable: torch.Tensor, batch: int, size: int,
               g: torch.Generator) -> torch.Tensor:
    """A batch drawn with replacement in proportion to the images' weights (skin-tone variants weigh less);
    each flippable image is mirrored left-right with probability 1/2."""
    picks = torch.multinomial(weights, batch, replacement=True, generator=g)
    t = tokens[picks].reshape(batch, size, size)
    mirror = flippable[picks] & (torch.rand(batch, generator=g) < 0.5)
    t = torch.where(mirror[:, None, None], t.flip(2), t)
    return t.reshape(batch, size * size)


def make_inputs(tokens: torch.Tensor) -> torch.Tensor:
    """[SOS, t0 .. t(n-2)] for targets [t0 .. t(n-1)]."""
    sos = torch.full((tokens.shape[0], 1), SOS, dtype=tokens.dtype)
    return torch.cat([sos, tokens[:, :-1]], dim=1)


@torch.no_grad()
def bits_per_token(model: ImageGPTForCausalImageModeling, tokens: torch.Tensor, batch: int = 64) -> float:
    was_training = model.training
    model.eval()
    total = 0.0
    for s in range(0, len(tokens), batch):
        t = tokens[s:s + batch]
        logits, _, _ = model(make_inputs(t))
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t.reshape(-1), reduction="sum").item()
    model.train(was_training)
    return total / tokens.numel() / LN2


def lr_at(progress: float, step: int, cfg: dict) -> float:
    warm = min(1.0, (step + 1) / cfg["warmup_steps"])
    cosine = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return cfg["lr"] * warm * cosine


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="training config JSON (weights-tools/configs/*.json)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-minutes", type=float, default=None, help="training wall time (overrides config)")
    parser.add_argument("--steps", type=int, default=None, help="fixed schedule length in steps")
    parser.add_argument("--out", default=None, help="export folder (default models/<name>)")
    parser.add_argument("--run-dir", default=None, help="checkpoints and logs (default weights-tools/runs/<name>)")
    parser.add_argument("--resume", action="store_true", help="continue from the run dir's checkpoint")
    parser.add_argument("--init-from", default=None,
                        help="the model folder to start from (overrides the config's init_from: a donor kept elsewhere)")
    parser.add_argument("--no-export", action="store_true")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch's intra-op threads (OpenBLAS's are OPENBLAS_NUM_THREADS; keep one of the two at 1)")
    args = parser.parse_args(argv)

    with open(args.config) as f:
        cfg = json.load(f)
    if args.init_from is not None:
        cfg["init_from"] = args.init_from
    name, size = cfg["name"], cfg["size"]
    max_minutes = args.max_minutes if args.max_minutes is not None else cfg["max_minutes"]
    run_dir = args.run_dir or os.path.join(HERE, "runs", name)
    out_dir = args.out or os.path.join(HERE, "..", "models", name)
    os.makedirs(run_dir, exist_ok=True)
    torch.set_num_threads(args.torch_threads)
    torch.manual_seed(args.seed)
    log_path = os.path.join(run_dir, "log.jsonl")

    def log(entry: Dict) -> None:
        entry = {**entry, "time": round(time.time(), 1)}
        print(json.dumps(entry), flush=True)
        with open(log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")

    wall_start = time.time()
    pixels, index = load_data(size)
    is_train = np.array([r["split"] == "train" for r in index])
    palette_path = os.path.join(run_dir, "clusters.json")
    init = load_init(cfg["init_from"], size) if cfg.get("init_from") else None
    if init is not None:
        clusters = init["clusters"]  # the donor's tokens must mean the same colors
        with open(palette_path, "w") as f:
            json.dump(clusters.tolist(), f)
    elif args.resume and os.path.exists(palette_path):
        with open(palette_path) as f:
            clusters = np.array(json.load(f), dtype=np.float64)
    else:
        t0 = time.time()
        # Rounded to 6 decimals: the JSON then holds exactly the values used here (HF loads them as float64).
        clusters = np.round(kmeans_palette(pixels[is_train], seed=args.seed), 6)
        with open(palette_path, "w") as f:
            json.dump(clusters.tolist(), f)
        log({"event": "palette", "seconds": round(time.time() - t0, 1)})
    tokens = torch.from_numpy(quantize(pixels, clusters).reshape(len(index), -1))
    train_tokens, held_tokens = tokens[torch.from_numpy(is_train)], tokens[torch.from_numpy(~is_train)]
    # Older index.json files (before all skin-tone variants were kept) carry no weight/flip: weight 1, no flips.
    train_records = [r for r in index if r["split"] == "train"]
    train_weights = torch.tensor([r.get("weight", 1.0) for r in train_records], dtype=torch.float64)
    train_flippable = torch.tensor([bool(r.get("flip", False)) and cfg.get("flips", False) for r in train_records])
    g = torch.Generator().manual_seed(args.seed)
    train_eval = train_tokens[torch.randperm(len(train_tokens), generator=g)[: len(held_tokens)]]

    config = ImageGPTConfig(
        vocab_size=513, n_positions=size * size, n_embd=cfg["n_embd"], n_layer=cfg["n_layer"], n_head=cfg["n_head"],
        resid_pdrop=cfg["dropout"], embd_pdrop=cfg["dropout"], attn_pdrop=cfg["dropout"],
    )
    model = ImageGPTForCausalImageModeling(config)
    if init is not None:
        if cfg["n_layer"] > init["n_layer"]:
            model.load_state_dict(init["weights"], strict=False)
            deepen(model, init["n_layer"])
        else:
            load_hf_state_dict(model, init["weights"])
        log({"event": "init", "from": cfg["init_from"], "donor_layers": init["n_layer"]})
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg["lr"], betas=(0.9, 0.95),
    )
    step, trained_seconds = 0, 0.0
    ckpt_path = os.path.join(run_dir, "checkpoint.pt")
    if args.resume and os.path.exists(ckpt_path):
        state = torch.load(ckpt_path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, trained_seconds = state["step"], state["trained_seconds"]
        g.set_state(state["generator"])
        log({"event": "resume", "step": step})
    n_params = sum(p.numel() for p in model.parameters())
    log({"event": "start", "name": name, "params": n_params, "train_images": len(train_tokens),
         "heldout_images": len(held_tokens), "config": cfg, "seed": args.seed, "max_minutes": max_minutes,
         "steps": args.steps, "blas": os.environ.get("LD_LIBRARY_PATH", "system"),
         "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
         "torch_threads": args.torch_threads, "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS")})

    # Evaluations may use a fixed random eval_images of each set (32x32 evaluation is costly on 2 shared cores);
    # export.py then measures the shipped f16 weights on all held-out images.
    n_eval = cfg.get("eval_images") or len(held_tokens)
    held_eval = held_tokens[torch.randperm(len(held_tokens), generator=torch.Generator().manual_seed(args.seed))]

    def save(final: bool = False) -> dict:
        n = n_eval
        entry = {"event": "final" if final else "eval", "step": step, "minutes": round(trained_seconds / 60, 2),
                 "train_bpt": round(bits_per_token(model, train_eval[:n]), 4),
                 "heldout_bpt": round(bits_per_token(model, held_eval[:n]), 4), "eval_images": n}
        log(entry)
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                    "trained_seconds": trained_seconds, "generator": g.get_state(), "config": cfg,
                    "seed": args.seed, "clusters": clusters.tolist()}, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)
        return entry

    budget = max_minutes * 60
    batch = cfg["batch_size"]
    last_ckpt = time.time()
    running = None
    model.train()
    while True:
        progress = step / args.steps if args.steps else trained_seconds / budget
        if progress >= 1.0 or trained_seconds >= budget:
            break
        t_start = time.time()
        t = draw_batch(train_tokens, train_weights, train_flippable, batch, size, g)
        lr = lr_at(progress, step, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        logits, _, _ = model(make_inputs(t))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), t.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        trained_seconds += time.time() - t_start
        bpt = loss.item() / LN2
        running = bpt if running is None else 0.98 * running + 0.02 * bpt
        if step % 25 == 0:
            log({"event": "step", "step": step, "lr": round(lr, 6), "bpt": round(running, 4),
                 "minutes": round(trained_seconds / 60, 2), "s_per_step": round(trained_seconds / step, 3)})
        if time.time() - last_ckpt > cfg.get("checkpoint_minutes", 4) * 60:
            save()
            last_ckpt = time.time()
    final = save(final=True)

    if not args.no_export:
        from export import export_run

        export_run(ckpt_path, out_dir, extra={
            "steps": step, "train_minutes": round(trained_seconds / 60, 1), "train_bpt": final["train_bpt"],
            "heldout_bpt": final["heldout_bpt"], "eval_images": final["eval_images"], "train_images": len(train_tokens), "heldout_images": len(held_tokens),
            "config_path": os.path.relpath(args.config, os.path.join(HERE, "..")), "seed": args.seed,
            "max_minutes_used": max_minutes, "schedule_steps": args.steps,
            "wall_minutes": round((time.time() - wall_start) / 60, 1),
        })
    return 0


if __name__ == "__main__":
    sys.exit(main())
