"""Sweep temperature × top-k for a shipped model's completions, to pick the demo's sampling defaults.

    /usr/bin/python3 weights-tools/sweep_defaults.py models/emoji-16 [models/emoji-32 ...] \
        [--images 48] [--samples 2] [--temperatures 0.7 0.85 1.0 1.15] [--top-k 0 8 40 128] [--out weights-tools/sweeps]

For each model: held-out emoji (base images, round-robin over categories and vendors, as the cards' samples pick
them), the top half of the rows kept as the demo keeps them, the bottom half sampled at every setting. Measured
per setting:

- completion bits/token: the completed half's tokens scored by the model itself (temperature 1, no top-k), i.e.
  how likely the model finds what the setting drew. Lower is more typical of the model; very low is often a
  collapse to a few colours (plain white), so it is read beside the next two columns;
- colours per completion: distinct palette tokens in the completed half, against the real bottom halves';
- the real bottom halves' bits/token under the model, the same for every setting (the reference).

Writes <out>/<model>.json (every figure) and <out>/<model>.png, a contact sheet: one row per setting, the first
8 images' completions then 4 unconditional samples (from SOS), with a header row of the real images with their
bottom half blanked. The PyTorch reference (`imagegpt_torch.py`) samples as the runtime does (logits ÷
temperature, keep the top k, softmax); it runs the f16 weights upcast to f32, on CPU.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import List

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from imagegpt_torch import SOS, generate  # noqa: E402
from palette import quantize, tokens_to_pixels  # noqa: E402
from export import heldout_data, load_model_dir, pick_varied  # noqa: E402
from train import make_inputs  # noqa: E402

LN2 = math.log(2)
SHEET_IMAGES = 8
SHEET_UNCONDITIONAL = 4


@torch.no_grad()
def bits_of_half(model, tokens: torch.Tensor, half: int) -> torch.Tensor:
    """Per image: mean bits per token of tokens[:, half:] under the model (temperature 1, no top-k)."""
    logits, _, _ = model(make_inputs(tokens))
    nll = F.cross_entropy(logits[:, half:].reshape(-1, logits.shape[-1]).double(), tokens[:, half:].reshape(-1),
                          reduction="none")
    return nll.reshape(len(tokens), -1).mean(dim=1) / LN2


def distinct_colours(tokens: torch.Tensor) -> float:
    return float(np.mean([len(torch.unique(row)) for row in tokens]))


def sweep_model(model_dir: str, temperatures: List[float], top_ks: List[int], n_images: int, n_samples: int,
                seed: int, out_dir: str) -> dict:
    model, clusters, size = load_model_dir(model_dir)
    pixels, index = heldout_data(size)
    picks = pick_varied(index, n_images, seed)
    n, half = size * size, (size // 2) * size
    real = torch.from_numpy(quantize(pixels[picks], clusters).reshape(len(picks), n))
    real_bits = bits_of_half(model, real, half)
    prefix = torch.cat([torch.full((len(picks), 1), SOS), real[:, :half]], dim=1).repeat_interleave(n_samples, dim=0)
    rows = []
    sheet_rows = []
    for temperature in temperatures:
        for top_k in top_ks:
            t0 = time.time()
            g = torch.Generator().manual_seed(seed)
            done = generate(model, prefix, n, top_k=top_k, temperature=temperature, generator=g)
            bits = bits_of_half(model, done, half)
            uncond = generate(model, torch.full((SHEET_UNCONDITIONAL, 1), SOS), n, top_k=top_k, temperature=temperature,
                              generator=g)
            rows.append({
                "temperature": temperature, "top_k": top_k,
                "completion_bits": round(float(bits.mean()), 4),
                "completion_bits_sd": round(float(bits.std()), 4),
                "colours": round(distinct_colours(done[:, half:]), 2),
                "seconds": round(time.time() - t0, 1),
            })
            print(json.dumps({"model": model_dir, **rows[-1]}), flush=True)
            firsts = done.reshape(len(picks), n_samples, n)[:SHEET_IMAGES, 0]
            sheet_rows.append([*firsts, *uncond])
    name = os.path.basename(os.path.normpath(model_dir))
    result = {
        "model": model_dir, "image_size": size, "kept_rows": size // 2, "images": len(picks), "samples_per_image": n_samples,
        "seed": seed, "heldout_rows": [f"{index[i]['name']} ({index[i]['vendor']})" for i in picks],
        "real_bottom_half_bits": round(float(real_bits.mean()), 4),
        "real_bottom_half_colours": round(distinct_colours(real[:, half:]), 2),
        "settings": rows,
        "note": "completion_bits: the completed half scored by the model at temperature 1 without top-k, mean over "
                "images × samples; colours: distinct palette tokens in a completed half; top_k 0 = off.",
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    header = real[:SHEET_IMAGES].clone()
    header_pixels = [tokens_to_pixels(t.numpy().reshape(size, size), clusters) for t in header]
    for p in header_pixels:
        p[size // 2:] = 255
    contact_sheet(header_pixels, sheet_rows, [f"T {r['temperature']}, k {r['top_k'] or 'off'}" for r in rows],
                  clusters, size, os.path.join(out_dir, f"{name}.png"))
    return result


def contact_sheet(header: List[np.ndarray], rows: List[List[torch.Tensor]], labels: List[str], clusters: np.ndarray,
                  size: int, path: str) -> None:
    from PIL import Image, ImageDraw

    scale = max(1, 48 // size)
    cell, gap, label_w = size * scale, 4, 110
    cols = len(rows[0])
    canvas = Image.new("RGB", (label_w + cols * (cell + gap) + gap + gap, (len(rows) + 1) * (cell + gap) + gap),
                       (200, 200, 200))
    draw = ImageDraw.Draw(canvas)

    def put(arr: np.ndarray, r: int, c: int) -> None:
        # The unconditional columns sit one gap further right, apart from the completions.
        x = label_w + gap + c * (cell + gap) + (gap if c >= SHEET_IMAGES else 0)
        canvas.paste(Image.fromarray(arr).resize((cell, cell), Image.NEAREST), (x, gap + r * (cell + gap)))

    draw.text((4, gap + cell // 2 - 6), "real, top kept", fill=(0, 0, 0))
    for c, p in enumerate(header):
        put(p, 0, c)
    for r, (row, label) in enumerate(zip(rows, labels), start=1):
        draw.text((4, gap + r * (cell + gap) + cell // 2 - 6), label, fill=(0, 0, 0))
        for c, t in enumerate(row):
            put(tokens_to_pixels(t.numpy().reshape(size, size), clusters), r, c)
    canvas.save(path, optimize=True)


def markdown_table(result: dict) -> str:
    lines = [f"{result['model']}: {result['images']} held-out images × {result['samples_per_image']} samples, top "
             f"{result['kept_rows']} rows kept; real bottom halves: {result['real_bottom_half_bits']:.2f} bits/token, "
             f"{result['real_bottom_half_colours']:.1f} colours", "",
             "| temperature | top-k | completion bits/token (± sd) | colours per completed half |", "|---|---|---|---|"]
    for r in result["settings"]:
        lines.append(f"| {r['temperature']} | {r['top_k'] or 'off'} | {r['completion_bits']:.2f} ± "
                     f"{r['completion_bits_sd']:.2f} | {r['colours']:.1f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="model folders (models/emoji-16 ...)")
    parser.add_argument("--images", type=int, default=48, help="held-out images (base images only)")
    parser.add_argument("--samples", type=int, default=2, help="completions per image and setting")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.7, 0.85, 1.0, 1.15])
    parser.add_argument("--top-k", type=int, nargs="+", default=[0, 8, 40, 128], help="0 = off")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=os.path.join(HERE, "sweeps"))
    args = parser.parse_args()
    for t in args.temperatures:
        if not t > 0:
            parser.error(f"--temperatures: {t} is not positive (greedy is --top-k 1)")
    for k in args.top_k:
        if k < 0 or k > 512:
            parser.error(f"--top-k: {k} is outside 0 (off) .. 512")
    torch.set_num_threads(1)
    for model_dir in args.models:
        result = sweep_model(model_dir, args.temperatures, args.top_k, args.images, args.samples, args.seed, args.out)
        table = markdown_table(result)
        name = os.path.basename(os.path.normpath(model_dir))
        with open(os.path.join(args.out, f"{name}.md"), "w") as f:
            f.write(table + "\n")
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
