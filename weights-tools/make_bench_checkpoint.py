"""Write a random ImageGPT checkpoint at a real model's width, in every layout the loader reads, for the load benchmark.

    /usr/bin/python3 weights-tools/make_bench_checkpoint.py [--preset large|medium] [--layers N]
        [--dtype f32|f16] [--shard-mb 100] [--layouts bin,...] [--out bench/.cache/hub]

Writes one hub-shaped repository per layout under OUT/bench/ (served by the hub test server as hub ids
`bench/<repo>`), each with config.json:
- <name>-safetensors/          model.safetensors
- <name>-safetensors-sharded/  model-0000k-of-0000n.safetensors + model.safetensors.index.json
- <name>-bin/                  pytorch_model.bin (torch.save, the zip format)
- <name>-bin-sharded/          pytorch_model-0000k-of-0000n.bin + pytorch_model.bin.index.json
where <name> is e.g. `large-2l-f32`. Like OpenAI's hub checkpoints, every layer carries the old causal-mask
buffers beside its weights: `attn.bias` (uint8, 1x1xPxP) and `attn.masked_bias` (a float scalar).
A repository whose `bench.json` marker exists with the same settings is left alone (regeneration is slow).

Presets: large = n_embd 1536, 16 heads (imagegpt-large's width; default 2 of its 48 layers),
medium = n_embd 1024, 8 heads, 36 layers (imagegpt-medium's full shape). Both: 1024 positions, vocab 513.
Weights are random at a realistic scale (matrices N(0, 0.02), residual projections scaled by 1/sqrt(2L),
layer-norm weights near 1, small non-zero biases), so a forward gives spread-out, finite logits.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Dict, List, Tuple

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imagegpt_torch import ImageGPTConfig  # noqa: E402
from safetensors_py import save_file  # noqa: E402

PRESETS = {
    "large": dict(n_embd=1536, n_head=16, n_layer=2),
    "medium": dict(n_embd=1024, n_head=8, n_layer=36),
}
LAYOUTS = ("safetensors", "safetensors-sharded", "bin", "bin-sharded")


def state_dict(config: ImageGPTConfig, dtype: torch.dtype, seed: int) -> Dict[str, torch.Tensor]:
    """HF names in HF's state_dict order: per layer ln_1, the attn buffers, then the attn and mlp weights."""
    g = torch.Generator().manual_seed(seed)
    E, I, P, L = config.n_embd, config.inner_dim, config.n_positions, config.n_layer

    def normal(shape: Tuple[int, ...], std: float, mean: float = 0.0) -> torch.Tensor:
        return (mean + std * torch.randn(shape, generator=g)).to(dtype)

    proj_std = 0.02 / math.sqrt(2 * L)
    mask = torch.tril(torch.ones(P, P, dtype=torch.uint8)).view(1, 1, P, P)
    out: Dict[str, torch.Tensor] = {
        "transformer.wte.weight": normal((config.vocab_size, E), 0.02),
        "transformer.wpe.weight": normal((P, E), 0.01),
    }
    for i in range(L):
        p = f"transformer.h.{i}."
        out[p + "ln_1.weight"] = normal((E,), 0.1, 1.0)
        # Each layer its own copy, as in HF checkpoints (torch.save writes each storage once).
        out[p + "attn.bias"] = mask.clone()
        out[p + "attn.masked_bias"] = torch.tensor(-1e4, dtype=torch.float32)
        out[p + "attn.c_attn.weight"] = normal((E, 3 * E), 0.02)
        out[p + "attn.c_attn.bias"] = normal((3 * E,), 0.02)
        out[p + "attn.c_proj.weight"] = normal((E, E), proj_std)
        out[p + "attn.c_proj.bias"] = normal((E,), 0.02)
        out[p + "ln_2.weight"] = normal((E,), 0.1, 1.0)
        out[p + "mlp.c_fc.weight"] = normal((E, I), 0.02)
        out[p + "mlp.c_fc.bias"] = normal((I,), 0.02)
        out[p + "mlp.c_proj.weight"] = normal((I, E), proj_std)
        out[p + "mlp.c_proj.bias"] = normal((E,), 0.02)
    out["transformer.ln_f.weight"] = normal((E,), 0.1, 1.0)
    out["lm_head.weight"] = normal((config.vocab_size - 1, E), 0.02)
    return out


def nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def shards(tensors: Dict[str, torch.Tensor], max_bytes: int) -> List[Dict[str, torch.Tensor]]:
    """HF's rule: tensors in order, a new shard when the next one would pass max_bytes."""
    out: List[Dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, t in tensors.items():
        if out[-1] and size + nbytes(t) > max_bytes:
            out.append({})
            size = 0
        out[-1][name] = t
        size += nbytes(t)
    return out


def write_index(path: str, parts: List[Dict[str, torch.Tensor]], names: List[str]) -> None:
    weight_map = {name: file for part, file in zip(parts, names) for name in part}
    total = sum(nbytes(t) for part in parts for t in part.values())
    with open(path, "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
        f.write("\n")


def write_layout(folder: str, layout: str, tensors: Dict[str, torch.Tensor], config_json: dict, shard_bytes: int) -> List[str]:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config_json, f, indent=2)
        f.write("\n")
    if layout == "safetensors":
        save_file(tensors, os.path.join(folder, "model.safetensors"), {"format": "pt"})
        return ["model.safetensors"]
    if layout == "bin":
        torch.save(tensors, os.path.join(folder, "pytorch_model.bin"))
        return ["pytorch_model.bin"]
    parts = shards(tensors, shard_bytes)
    n = len(parts)
    if layout == "safetensors-sharded":
        names = [f"model-{k + 1:05d}-of-{n:05d}.safetensors" for k in range(n)]
        for part, name in zip(parts, names):
            save_file(part, os.path.join(folder, name), {"format": "pt"})
        write_index(os.path.join(folder, "model.safetensors.index.json"), parts, names)
    else:
        names = [f"pytorch_model-{k + 1:05d}-of-{n:05d}.bin" for k in range(n)]
        for part, name in zip(parts, names):
            torch.save(part, os.path.join(folder, name))
        write_index(os.path.join(folder, "pytorch_model.bin.index.json"), parts, names)
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="large")
    parser.add_argument("--layers", type=int, help="layers (default: 2 for large, 36 for medium)")
    parser.add_argument("--dtype", choices=["f32", "f16"], default="f32", help="stored weight dtype (OpenAI's are f32)")
    parser.add_argument("--shard-mb", type=float, default=100.0, help="max shard size in MB (10^6 bytes) for the sharded layouts")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--layouts", default=",".join(LAYOUTS), help=f"comma-separated, of {', '.join(LAYOUTS)} (default all)")
    parser.add_argument("--out", default=os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", ".cache", "hub")))
    args = parser.parse_args()

    layouts = args.layouts.split(",")
    unknown = [l for l in layouts if l not in LAYOUTS]
    if unknown:
        print(f"--layouts {args.layouts}: unknown {unknown}; expected some of {', '.join(LAYOUTS)}", file=sys.stderr)
        return 2
    shape = dict(PRESETS[args.preset])
    if args.layers is not None:
        if args.layers < 1:
            print(f"--layers {args.layers}: expected at least 1", file=sys.stderr)
            return 2
        shape["n_layer"] = args.layers
    config = ImageGPTConfig(vocab_size=513, n_positions=1024, **shape)
    config_json = config.to_hf_dict()
    config_json["torch_dtype"] = "float32" if args.dtype == "f32" else "float16"
    dtype = torch.float32 if args.dtype == "f32" else torch.float16
    name = f"{args.preset}-{config.n_layer}l-{args.dtype}"
    settings = {"preset": args.preset, "config": config_json, "dtype": args.dtype, "shard_mb": args.shard_mb, "seed": args.seed}
    shard_bytes = int(args.shard_mb * 1e6)

    tensors: Dict[str, torch.Tensor] = {}
    for layout in layouts:
        folder = os.path.join(args.out, "bench", f"{name}-{layout}")
        marker = os.path.join(folder, "bench.json")
        if os.path.exists(marker):
            with open(marker) as f:
                if json.load(f).get("settings") == settings:
                    print(f"{folder}: present, skipped")
                    continue
        if not tensors:
            t0 = time.time()
            tensors = state_dict(config, dtype, args.seed)
            print(f"random weights: {sum(t.numel() for t in tensors.values()) / 1e6:.1f} M values in {time.time() - t0:.1f} s")
        t0 = time.time()
        files = write_layout(folder, layout, tensors, config_json, shard_bytes)
        sizes = {f: os.path.getsize(os.path.join(folder, f)) for f in files}
        with open(marker, "w") as f:
            json.dump({"settings": settings, "files": sizes, "bytes": sum(sizes.values())}, f, indent=2)
            f.write("\n")
        print(f"{folder}: {len(files)} file(s), {sum(sizes.values()) / 1e6:.1f} MB in {time.time() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
