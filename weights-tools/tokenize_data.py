"""Tokenize the prepared emoji images into one small file that travels to a GPU machine.

    /usr/bin/python3 weights-tools/tokenize_data.py --size 32 --palette models/emoji-32 \
        --out weights-tools/data/emoji-32.tokens.npz

Reads weights-tools/data/emoji-<size>/ (prepare_data.py makes it) and writes an uncompressed numpy .npz:

- tokens   uint16 [N, size*size]  palette indices (HF's color quantization), row-major
- heldout  bool   [N]             the held-out split (by name, weights-tools/split.json)
- weight   float32 [N]            sampling weight (skin-tone variants share one image's weight)
- flip     bool   [N]             a left-right mirror is still a plausible emoji
- clusters float64 [512, 3]       the palette, HF's normalized `clusters`
- size     int64 []               image side in pixels

The palette comes from a model folder's preprocessor_config.json (`--palette models/emoji-32`, so a new
model's tokens mean the same colors as the shipped one's), or is fitted by k-means on the training pixels
(`--fit-palette`). At 32x32 the file is about 15 MB (7,228 images); the script refuses to write more than
60 MB.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from palette import kmeans_palette, quantize  # noqa: E402

MAX_BYTES = 60 * 1024 * 1024


def read_palette(model_dir: str) -> np.ndarray:
    path = os.path.join(model_dir, "preprocessor_config.json")
    with open(path) as f:
        clusters = np.array(json.load(f)["clusters"], dtype=np.float64)
    if clusters.shape != (512, 3):
        raise ValueError(f"{path}: clusters must be [512, 3], got {clusters.shape}")
    return clusters


def write_tokens_file(path: str, tokens: np.ndarray, heldout: np.ndarray, weight: np.ndarray, flip: np.ndarray,
                      clusters: np.ndarray, size: int) -> None:
    """Checks shapes and ranges, then writes the .npz (atomically: a .partial file renamed when complete)."""
    n = len(tokens)
    if tokens.shape != (n, size * size) or tokens.dtype != np.uint16:
        raise ValueError(f"tokens must be uint16 [N, {size * size}], got {tokens.dtype} {tokens.shape}")
    if n and int(tokens.max()) >= 512:
        raise ValueError(f"tokens must be palette indices 0..511, found {int(tokens.max())}")
    for name, arr in (("heldout", heldout), ("weight", weight), ("flip", flip)):
        if arr.shape != (n,):
            raise ValueError(f"{name} must have one entry per image ({n}), got shape {arr.shape}")
    if not np.all(weight > 0):
        raise ValueError("every weight must be > 0")
    partial = path + ".partial"
    with open(partial, "wb") as f:
        np.savez(f, tokens=tokens, heldout=heldout.astype(bool), weight=weight.astype(np.float32),
                 flip=flip.astype(bool), clusters=clusters.astype(np.float64), size=np.int64(size))
    if os.path.getsize(partial) > MAX_BYTES:
        os.remove(partial)
        raise ValueError(f"{path} would be over {MAX_BYTES >> 20} MB; it has to travel to the GPU machine")
    os.replace(partial, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--palette", help="model folder whose preprocessor_config.json holds the palette")
    source.add_argument("--fit-palette", action="store_true", help="k-means a new palette on the training pixels")
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=1, help="k-means seed (with --fit-palette)")
    args = parser.parse_args(argv)

    from train import load_data

    pixels, index = load_data(args.size)
    heldout = np.array([r["split"] == "heldout" for r in index])
    if args.palette:
        clusters = read_palette(args.palette)
    else:
        clusters = np.round(kmeans_palette(pixels[~heldout], seed=args.seed), 6)
    tokens = quantize(pixels, clusters).reshape(len(index), -1).astype(np.uint16)
    weight = np.array([r.get("weight", 1.0) for r in index], dtype=np.float32)
    flip = np.array([bool(r.get("flip", False)) for r in index])
    write_tokens_file(args.out, tokens, heldout, weight, flip, clusters, args.size)
    print(f"{args.out}: {len(tokens)} images ({int(heldout.sum())} held out), "
          f"{os.path.getsize(args.out) / 1e6:.1f} MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
