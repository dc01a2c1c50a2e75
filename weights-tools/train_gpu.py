"""Train a larger emoji ImageGPT on one GPU from a tokenized data file, and export it in the shipped format.

    # here (no GPU needed): make the data file, ~15 MB, and carry it to the GPU machine
    /usr/bin/python3 weights-tools/prepare_data.py --sizes 32
    /usr/bin/python3 weights-tools/tokenize_data.py --size 32 --palette models/emoji-32 \
        --out weights-tools/data/emoji-32.tokens.npz
    # there (PyTorch with CUDA):
    python3 weights-tools/train_gpu.py --data weights-tools/data/emoji-32.tokens.npz \
        --config weights-tools/configs/emoji-32-gpu.json --out weights-tools/runs/emoji-32-gpu/model

The same code runs on CPU (float32, no autocast) for tests and tiny configs; on CUDA it uses bf16 autocast,
PyTorch's fused causal attention when it has one (torch >= 2.0), and fused AdamW when available.

Schedule: warmup, then cosine to 10 % of the peak learning rate, over `steps` when the config gives them,
else over `max_minutes` of wall time (evaluations included), so a run ends on time whatever the GPU's speed.
Every `eval_minutes` (and at the end) it logs held-out and training bits per token to <run-dir>/log.jsonl
(minutes, step, train_bpt, heldout_bpt): the curve for the card.

Output (<out>/): model.safetensors (f16, HF tensor names), config.json, preprocessor_config.json (the data
file's palette), training.json (the run's facts, with the held-out bits per token of the exported f16
weights on every held-out image, measured in float32). export.py adds samples and a card on a machine
that has the images.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
import types
from typing import Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from imagegpt_torch import ImageGPTConfig, ImageGPTForCausalImageModeling  # noqa: E402
from train import draw_batch, lr_at, make_inputs  # noqa: E402

LN2 = math.log(2)
CONFIG_KEYS = ("name", "n_embd", "n_layer", "n_head", "dropout", "batch_size", "lr", "warmup_steps", "weight_decay")


def load_tokens(path: str) -> Dict[str, np.ndarray]:
    """The arrays tokenize_data.py writes, checked against each other."""
    with np.load(path) as f:
        data = {k: f[k] for k in ("tokens", "heldout", "weight", "flip", "clusters", "size")}
    size = int(data["size"])
    n = len(data["tokens"])
    if data["tokens"].shape != (n, size * size):
        raise ValueError(f"{path}: tokens have shape {data['tokens'].shape}, expected [N, {size * size}]")
    if data["clusters"].shape != (512, 3):
        raise ValueError(f"{path}: clusters have shape {data['clusters'].shape}, expected [512, 3]")
    if not data["heldout"].any() or data["heldout"].all():
        raise ValueError(f"{path}: needs both training and held-out images")
    return data


def read_config(path: str) -> dict:
    with open(path) as f:
        cfg = json.load(f)
    missing = [k for k in CONFIG_KEYS if k not in cfg]
    if missing:
        raise ValueError(f"{path}: missing {missing}")
    if not cfg.get("steps") and not cfg.get("max_minutes"):
        raise ValueError(f"{path}: give \"steps\" or \"max_minutes\" (the schedule's length)")
    return cfg


def fused_attention_forward(self, x: torch.Tensor, past=None):
    """ImageGPTAttention.forward for training (no cache) with torch's scaled_dot_product_attention: the same
    causal softmax(q k^T / sqrt(head_dim)) v, computed by a fused kernel instead of materialized scores."""
    if past is not None:
        raise ValueError("the fused training attention takes no KV cache")
    b, t, e = x.shape
    q, k, v = self.c_attn(x).split(e, dim=2)
    q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)
    p = self.attn_dropout.p if self.training else 0.0
    o = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
    o = o.permute(0, 2, 1, 3).reshape(b, t, e)
    return self.resid_dropout(self.c_proj(o)), (k, v)


def use_fused_attention(model: ImageGPTForCausalImageModeling) -> bool:
    """Swap in the fused attention where torch has it and the model's scale is the plain 1/sqrt(head_dim)."""
    c = model.config
    if not hasattr(F, "scaled_dot_product_attention") or not c.scale_attn_weights or c.scale_attn_by_inverse_layer_idx:
        return False
    for block in model.transformer.h:
        block.attn.forward = types.MethodType(fused_attention_forward, block.attn)
    return True


@torch.no_grad()
def bits_per_token(model, tokens: torch.Tensor, device: torch.device, autocast: bool, batch: int = 64) -> float:
    """Mean cross-entropy of every image token in bits, inputs [SOS, t0 .. t(n-2)]."""
    was_training = model.training
    model.eval()
    total = 0.0
    for s in range(0, len(tokens), batch):
        t = tokens[s:s + batch].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            logits, _, _ = model(make_inputs(t))
        total += F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), t.reshape(-1), reduction="sum").item()
    model.train(was_training)
    return total / tokens.numel() / LN2


def export(model, config: ImageGPTConfig, clusters: np.ndarray, size: int, out_dir: str) -> Dict[str, torch.Tensor]:
    """model.safetensors (f16), config.json and preprocessor_config.json; returns the f16 weights written."""
    from export import write_model_folder

    weights = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    write_model_folder(out_dir, weights, config, clusters, size)
    return weights


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="tokens file from tokenize_data.py")
    parser.add_argument("--config", required=True, help="training config JSON (weights-tools/configs/emoji-32-gpu.json)")
    parser.add_argument("--out", required=True, help="folder for the exported model")
    parser.add_argument("--run-dir", default=None, help="folder for log.jsonl (default: <out>/../run)")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (torch >= 2.0)")
    args = parser.parse_args(argv)

    cfg = read_config(args.config)
    data = load_tokens(args.data)
    size = int(data["size"])
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    on_gpu = device.type == "cuda"
    if not on_gpu:
        torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
    torch.manual_seed(args.seed)
    run_dir = args.run_dir or os.path.join(os.path.dirname(os.path.abspath(args.out)), "run")
    os.makedirs(run_dir, exist_ok=True)
    log_path = os.path.join(run_dir, "log.jsonl")
    open(log_path, "w").close()

    def log(entry: Dict) -> None:
        print(json.dumps(entry), flush=True)
        with open(log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")

    tokens = torch.from_numpy(data["tokens"].astype(np.int64))
    heldout = torch.from_numpy(data["heldout"])
    train_tokens, held_tokens = tokens[~heldout], tokens[heldout]
    train_weights = torch.from_numpy(data["weight"][~data["heldout"]].astype(np.float64))
    train_flippable = torch.from_numpy(data["flip"][~data["heldout"]]) & bool(cfg.get("flips", True))
    g = torch.Generator().manual_seed(args.seed)
    train_eval = train_tokens[torch.randperm(len(train_tokens), generator=g)[: len(held_tokens)]]

    config = ImageGPTConfig(
        vocab_size=513, n_positions=size * size, n_embd=cfg["n_embd"], n_layer=cfg["n_layer"], n_head=cfg["n_head"],
        resid_pdrop=cfg["dropout"], embd_pdrop=cfg["dropout"], attn_pdrop=cfg["dropout"],
    )
    model = ImageGPTForCausalImageModeling(config).to(device)
    fused = use_fused_attention(model)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}]
    try:
        opt = torch.optim.AdamW(groups, lr=cfg["lr"], betas=(0.9, 0.95), fused=on_gpu)
    except TypeError:  # torch < 2.0 has no fused AdamW
        opt = torch.optim.AdamW(groups, lr=cfg["lr"], betas=(0.9, 0.95))
    step_model = torch.compile(model) if args.compile else model

    n_params = sum(p.numel() for p in model.parameters())
    log({"event": "start", "params": n_params, "train_images": len(train_tokens), "heldout_images": len(held_tokens),
         "size": size, "config": cfg, "seed": args.seed, "device": torch.cuda.get_device_name(device) if on_gpu else
         platform.processor() or "cpu", "torch": torch.__version__, "bf16_autocast": on_gpu, "fused_attention": fused,
         "compile": args.compile})

    steps, budget = cfg.get("steps"), 60 * float(cfg.get("max_minutes") or 0)
    eval_seconds = 60 * float(cfg.get("eval_minutes", 1.0))
    batch = cfg["batch_size"]
    start = last_eval = time.time()
    step, running = 0, None

    def evaluate(event: str) -> dict:
        entry = {"event": event, "step": step, "minutes": round((time.time() - start) / 60, 3),
                 "train_bpt": round(bits_per_token(model, train_eval, device, on_gpu), 4),
                 "heldout_bpt": round(bits_per_token(model, held_tokens, device, on_gpu), 4)}
        log(entry)
        return entry

    model.train()
    while True:
        elapsed = time.time() - start
        progress = step / steps if steps else elapsed / budget
        if progress >= 1.0:
            break
        lr = lr_at(progress, step, cfg)
        for group in opt.param_groups:
            group["lr"] = lr
        t = draw_batch(train_tokens, train_weights, train_flippable, batch, size, g).to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_gpu):
            logits, _, _ = step_model(make_inputs(t))
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), t.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 25 == 0 or step == 1:
            bpt = loss.item() / LN2  # syncs with the GPU: only every 25 steps
            running = bpt if running is None else 0.9 * running + 0.1 * bpt
            log({"event": "step", "step": step, "lr": round(lr, 6), "bpt": round(running, 4),
                 "minutes": round((time.time() - start) / 60, 3)})
        if time.time() - last_eval > eval_seconds:
            evaluate("eval")
            last_eval = time.time()
    final = evaluate("final")
    train_minutes = (time.time() - start) / 60

    out = os.path.abspath(args.out)
    weights = export(model, config, data["clusters"], size, out)
    # What ships: the f16 weights, upcast, evaluated in float32 on every held-out image.
    shipped = ImageGPTForCausalImageModeling(config).to(device)
    shipped.load_state_dict({k: v.float() for k, v in weights.items()})
    heldout_f16 = bits_per_token(shipped, held_tokens, device, autocast=False)
    facts = {"params": n_params, "steps": step, "train_minutes": round(train_minutes, 2),
             "train_bpt": final["train_bpt"], "heldout_bpt": final["heldout_bpt"],
             "heldout_bpt_f16": round(heldout_f16, 4), "heldout_images": len(held_tokens),
             "train_images": len(train_tokens), "config": cfg, "seed": args.seed, "data": os.path.basename(args.data),
             "device": torch.cuda.get_device_name(device) if on_gpu else "cpu", "torch": torch.__version__}
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(facts, f, indent=1)
        f.write("\n")
    log({"event": "exported", "out": out, "heldout_bpt_f16": facts["heldout_bpt_f16"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
