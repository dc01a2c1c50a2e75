"""Fixtures for the image processor (src/processor): real Pillow resizes and HF-semantics color quantization.

    /usr/bin/python3 weights-tools/make_processor_fixtures.py [test/fixtures/processor]

Input images are synthetic and integer-only (a 32-bit hash, integer gradients and interpolation), so that
test/processor/synthetic.ts rebuilds exactly the same pixels and only the small outputs are committed,
even for the 4000x3000 case. For each image and each target size the fixture holds:
  - the bytes of PIL `Image.resize((w, h), Image.Resampling.BILINEAR)` (what HF's processor calls, with
    reducing_gap left unset);
  - the tokens of HF's `color_quantize` (numpy: float32 pixels, float64 clusters, expanded form, argmin);
  - for RGBA images, also the resize after PIL `Image.alpha_composite` onto white (as the emoji data is made);
  - the tokens HF makes with do_normalize false: color_quantize on the uint8 pixels themselves.
A second file, processor-filters.json, holds Pillow's other filters (NEAREST, BOX, HAMMING, BICUBIC, LANCZOS)
on a subset of the images, the bytes of each resize.
The clusters are synthetic too (no checkpoint can be downloaded here), with duplicated rows so that exact
ties occur and the first index must win.
"""
from __future__ import annotations

import base64
import json
import os
import sys
from fractions import Fraction

import numpy as np
import PIL
from PIL import Image

MASK32 = 0xFFFFFFFF


def hash32(v: np.ndarray) -> np.ndarray:
    """lowbias32 integer hash on uint32 (wrapping multiplies); mirrored in test/processor/synthetic.ts."""
    v = v.astype(np.uint32)
    v ^= v >> np.uint32(16)
    v *= np.uint32(0x7FEB352D)
    v ^= v >> np.uint32(15)
    v *= np.uint32(0x846CA68B)
    v ^= v >> np.uint32(16)
    return v


def channel_hash(seed: int, width: int, height: int, channels: int) -> np.ndarray:
    """hash32(index + seed * 0x9E3779B1 mod 2^32) for every (y, x, c), as uint32 [h, w, c]."""
    index = np.arange(width * height * channels, dtype=np.uint64)
    offset = np.uint64((seed * 0x9E3779B1) & MASK32)
    return hash32((index + offset) & np.uint64(MASK32)).reshape(height, width, channels)


def make_image(kind: str, width: int, height: int, channels: int, seed: int) -> np.ndarray:
    """uint8 [h, w, channels]; every formula is integer arithmetic only."""
    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    noise = channel_hash(seed, width, height, channels).astype(np.int64)
    out = np.zeros((height, width, channels), dtype=np.int64)
    if kind == "noise":
        out = noise & 255
    elif kind == "gradient":
        for c in range(channels):
            if c % 3 == 0:
                out[..., c] = (x * 255) // max(width - 1, 1)
            elif c % 3 == 1:
                out[..., c] = (y * 255) // max(height - 1, 1)
            else:
                out[..., c] = ((x + y) * 255) // max(width + height - 2, 1)
    elif kind == "texture":
        # Value noise: a coarse hashed lattice, bilinearly interpolated in integers, plus fine grain.
        cell = 16
        lw, lh = width // cell + 2, height // cell + 2
        lattice = (channel_hash(seed + 1, lw, lh, channels).astype(np.int64) & 255)
        i, j = x // cell, y // cell
        fx, fy = x % cell, y % cell
        for c in range(channels):
            l00, l10 = lattice[j, i, c], lattice[j, i + 1, c]
            l01, l11 = lattice[j + 1, i, c], lattice[j + 1, i + 1, c]
            top = l00 * (cell - fx) + l10 * fx
            bottom = l01 * (cell - fx) + l11 * fx
            out[..., c] = (top * (cell - fy) + bottom * fy) // (cell * cell)
        out = np.clip(out + (noise & 15) - 8, 0, 255)
    elif kind == "checker":
        out[...] = (((x + y) & 1) * 255)[..., None]
        if channels >= 3:
            out[..., 1] = (x & 1) * 200 + 20
    elif kind == "shapes":
        # Flat colors with hard edges (emoji-like: many repeated colors), alpha 0 outside a disc.
        cx, cy, r = width // 2, height // 2, min(width, height) * 3 // 8
        inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        box = (abs(x - cx) < r // 2) & (abs(y - cy) < r // 3)
        colors = [(250, 200, 40), (60, 40, 20), (255, 255, 255)]
        for c in range(min(channels, 3)):
            out[..., c] = np.where(box, colors[1][c], np.where(inside, colors[0][c], colors[2][c]))
        if channels == 4:
            out[..., 3] = np.where(inside, 255, 0)
    else:
        raise ValueError(f"unknown kind {kind}")
    return out.astype(np.uint8)


# (name, kind, width, height, channels, seed)
CASES = [
    ("noise-32x32", "noise", 32, 32, 3, 1),
    ("gradient-100x80", "gradient", 100, 80, 3, 2),
    ("texture-64x48", "texture", 64, 48, 3, 3),
    ("noise-7x300", "noise", 7, 300, 3, 4),
    ("noise-1x1", "noise", 1, 1, 3, 5),
    ("texture-1000x750", "texture", 1000, 750, 3, 6),
    ("checker-33x31", "checker", 33, 31, 3, 7),
    ("shapes-64x64-rgba", "shapes", 64, 64, 4, 8),
    ("gradient-1x50", "gradient", 1, 50, 3, 9),
    ("noise-300x1", "noise", 300, 1, 3, 10),
    ("texture-17x23-grey", "texture", 17, 23, 1, 11),
    ("texture-640x427", "texture", 640, 427, 3, 12),
    ("shapes-5x5", "shapes", 5, 5, 3, 13),
    ("noise-31x32", "noise", 31, 32, 3, 14),
    ("noise-4000x3000", "noise", 4000, 3000, 3, 15),
    ("texture-1024x1024-rgba", "texture", 1024, 1024, 4, 16),
    ("gradient-32x90", "gradient", 32, 90, 3, 17),  # width kept at 32: vertical pass only
    ("noise-40x7-rgba", "noise", 40, 7, 4, 18),  # width kept at 40: vertical only, from 4-byte pixels
]
# (height, width) targets: the hub's 32x32, the emoji model's 16x16, and a non-square one to pin the axis order.
SIZES = [(32, 32), (16, 16), (24, 40)]


def to_rgb(image: np.ndarray) -> np.ndarray:
    """What our processor does before resizing: drop alpha, repeat grey."""
    if image.shape[2] == 4:
        return image[..., :3]
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2)
    return image


def pil_on_white(rgba: np.ndarray) -> np.ndarray:
    """RGBA composited onto white the way the emoji training data is (weights-tools/prepare_data.py)."""
    image = Image.fromarray(rgba, mode="RGBA")
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(white, image).convert("RGB"))


def pil_resize(rgb: np.ndarray, height: int, width: int, resample: int = Image.Resampling.BILINEAR) -> np.ndarray:
    return np.array(Image.fromarray(rgb, mode="RGB").resize((width, height), resample))


# Pillow's other filters, by the name our processor gives them, and the images they are checked on.
FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
FILTER_CASES = ["noise-32x32", "gradient-100x80", "texture-64x48", "noise-7x300", "noise-1x1", "checker-33x31",
                "texture-640x427", "shapes-5x5", "noise-31x32", "gradient-32x90", "noise-40x7-rgba"]


def make_clusters(seed: int = 20261126) -> np.ndarray:
    """512x3 float64 in [-1, 1]: float32-valued points (like real checkpoints' JSON), float64 points,
    exact pixel colors and duplicated rows (exact ties: the first index must win)."""
    rng = np.random.default_rng(seed)
    c = np.empty((512, 3), dtype=np.float64)
    c[:200] = rng.uniform(-1, 1, (200, 3)).astype(np.float32)
    c[200:400] = rng.uniform(-1, 1, (200, 3))
    levels = rng.integers(0, 256, (64, 3))
    c[400:464] = normalize(levels.astype(np.uint8)).astype(np.float64)  # distance exactly 0 to some pixels
    c[464:512] = c[rng.choice(464, 48, replace=False)]
    return c


def make_near_ties(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """256 colors and 512 clusters: for each color x a pair (x + o, 2x - (x + o)), equally far from x in exact
    arithmetic, so float64 rounding alone picks the winner; the order within each pair is random."""
    rng = np.random.default_rng(seed)
    colors = (channel_hash(seed, 256, 1, 3).reshape(-1, 3) % 254 + 1).astype(np.uint8)  # inside: room for both
    x = normalize(colors).astype(np.float64)
    clusters = np.empty((512, 3), dtype=np.float64)
    for i in range(256):
        while True:
            o = rng.normal(size=3)
            o *= rng.uniform(0.004, 0.02) / np.linalg.norm(o)
            a, b = x[i] + o, 2 * x[i] - (x[i] + o)
            if np.all(np.abs(a) <= 1) and np.all(np.abs(b) <= 1):
                break
        clusters[2 * i: 2 * i + 2] = (a, b) if rng.random() < 0.5 else (b, a)
    return colors, clusters


def normalize(rgb: np.ndarray) -> np.ndarray:
    """HF ImageGPTImageProcessor.normalize: rescale (float64 multiply, cast to float32), then - 1 in float32."""
    return (rgb.astype(np.float64) * (1 / 127.5)).astype(np.float32) - 1


def hf_color_quantize(x: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """HF's squared_euclidean_distance + color_quantize, same expressions and dtypes."""
    x = x.reshape(-1, 3)
    b = clusters.T
    a2 = np.sum(np.square(x), axis=1)
    b2 = np.sum(np.square(b), axis=0)
    ab = np.matmul(x, b)
    d = a2[:, None] - 2 * ab + b2[None, :]
    return np.argmin(d, axis=1)


def explicit_quantize(x: np.ndarray, clusters: np.ndarray, fused: bool = False) -> np.ndarray:
    """The same expanded form written out term by term (no BLAS), in the order our TS code uses.
    fused=True evaluates x.c with fused multiply-adds (what an FMA BLAS kernel does), exactly, via fractions,
    only for pixels whose best two distances are close enough for it to matter."""
    x = x.reshape(-1, 3)
    xs = x.astype(np.float32)
    a2 = ((xs[:, 0] * xs[:, 0] + xs[:, 1] * xs[:, 1]) + xs[:, 2] * xs[:, 2]).astype(np.float32)
    xd = xs.astype(np.float64)
    ab = (xd[:, 0:1] * clusters[None, :, 0] + xd[:, 1:2] * clusters[None, :, 1]) + xd[:, 2:3] * clusters[None, :, 2]
    b2 = (clusters[:, 0] * clusters[:, 0] + clusters[:, 1] * clusters[:, 1]) + clusters[:, 2] * clusters[:, 2]
    d = (a2.astype(np.float64)[:, None] - 2 * ab) + b2[None, :]
    tokens = np.argmin(d, axis=1)
    if not fused:
        return tokens
    def fma(a: float, b: float, c: float) -> float:
        return float(Fraction(a) * Fraction(b) + Fraction(c))

    best_d = d.min(axis=1)
    near = d - best_d[:, None] < 1e-9  # only these clusters can win under a 1-ulp change of x.c
    for p in np.nonzero(near.sum(axis=1) > 1)[0]:
        exact = []
        for k in np.nonzero(near[p])[0]:
            s = float(Fraction(float(xd[p, 0])) * Fraction(float(clusters[k, 0])))
            s = fma(float(xd[p, 1]), float(clusters[k, 1]), s)
            s = fma(float(xd[p, 2]), float(clusters[k, 2]), s)
            exact.append(((float(a2[p]) - 2 * s) + float(b2[k]), k))
        tokens[p] = min(exact)[1]  # smallest distance, then smallest index
    return tokens


def explicit_quantize_raw(rgb: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """do_normalize false written out as our TS code does it: |x|^2 = sum of (v^2 mod 256), x.C term by term."""
    x = rgb.reshape(-1, 3).astype(np.int64)
    a2 = ((x * x) & 255).sum(axis=1).astype(np.float64)
    xd = x.astype(np.float64)
    ab = (xd[:, 0:1] * clusters[None, :, 0] + xd[:, 1:2] * clusters[None, :, 1]) + xd[:, 2:3] * clusters[None, :, 2]
    b2 = (clusters[:, 0] * clusters[:, 0] + clusters[:, 1] * clusters[:, 1]) + clusters[:, 2] * clusters[:, 2]
    return np.argmin((a2[:, None] - 2 * ab) + b2[None, :], axis=1)


def direct_quantize(x: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    x = x.reshape(-1, 3).astype(np.float64)
    return np.argmin(((x[:, None, :] - clusters[None, :, :]) ** 2).sum(-1), axis=1)


def main(out_dir: str) -> int:
    os.makedirs(out_dir, exist_ok=True)
    clusters = make_clusters()
    cases = []
    stats = {"pixels": 0, "direct_differs": 0, "fma_differs": 0}
    for name, kind, width, height, channels, seed in CASES:
        image = make_image(kind, width, height, channels, seed)
        rgb = to_rgb(image)
        on_white = pil_on_white(image) if channels == 4 else None
        outputs = []
        for h, w in SIZES:
            resized = pil_resize(rgb, h, w)
            x = normalize(resized)
            tokens = hf_color_quantize(x, clusters)
            if not np.array_equal(tokens, explicit_quantize(x, clusters)):
                print(f"{name} {h}x{w}: numpy's matmul path differs from the explicit expanded form", file=sys.stderr)
                return 1
            stats["pixels"] += tokens.size
            stats["direct_differs"] += int((direct_quantize(x, clusters) != tokens).sum())
            stats["fma_differs"] += int((explicit_quantize(x, clusters, fused=True) != tokens).sum())
            output = {
                "height": h,
                "width": w,
                "rgb": base64.b64encode(resized.tobytes()).decode("ascii"),
                "tokens": tokens.astype(int).tolist(),
            }
            if on_white is not None:
                output["rgbOnWhite"] = base64.b64encode(pil_resize(on_white, h, w).tobytes()).decode("ascii")
            # do_normalize false: HF quantizes the uint8 array (np.square wraps in uint8, np.sum widens).
            raw = hf_color_quantize(resized, clusters)
            if not np.array_equal(raw, explicit_quantize_raw(resized, clusters)):
                print(f"{name} {h}x{w}: raw quantization differs from the explicit form", file=sys.stderr)
                return 1
            output["tokensRaw"] = raw.astype(int).tolist()
            outputs.append(output)
        cases.append({"name": name, "kind": kind, "width": width, "height": height, "channels": channels,
                      "seed": seed, "outputs": outputs})

    # Colors straight to tokens (no resize): every grey, the cube's corners, the duplicated clusters' own
    # colors, and hashed colors; this is where ties and near-ties live.
    greys = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    corners = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)], dtype=np.uint8)
    own = np.rint((clusters[400:464] + 1) * 127.5).astype(np.uint8)
    hashed = (channel_hash(99, 4096, 1, 3).reshape(-1, 3) & 255).astype(np.uint8)
    colors = np.concatenate([greys, corners, own, hashed])
    color_tokens = hf_color_quantize(normalize(colors), clusters)
    color_tokens_raw = hf_color_quantize(colors, clusters)
    stats["colors_direct_differs"] = int((direct_quantize(normalize(colors), clusters) != color_tokens).sum())
    stats["colors_fma_differs"] = int((explicit_quantize(normalize(colors), clusters, fused=True) != color_tokens).sum())

    tie_colors, tie_clusters = make_near_ties()
    tie_x = normalize(tie_colors)
    tie_tokens = hf_color_quantize(tie_x, tie_clusters)
    if not np.array_equal(tie_tokens, explicit_quantize(tie_x, tie_clusters)):
        print("near ties: numpy's matmul path differs from the explicit expanded form", file=sys.stderr)
        return 1
    stats["ties_direct_differs"] = int((direct_quantize(tie_x, tie_clusters) != tie_tokens).sum())
    stats["ties_fma_differs"] = int((explicit_quantize(tie_x, tie_clusters, fused=True) != tie_tokens).sum())

    fixture = {
        "generator": "weights-tools/make_processor_fixtures.py",
        "pillow": PIL.__version__,
        "numpy": np.__version__,
        "clusters": clusters.tolist(),
        "cases": cases,
        "colors": base64.b64encode(colors.tobytes()).decode("ascii"),
        "colorTokens": color_tokens.astype(int).tolist(),
        "colorTokensRaw": color_tokens_raw.astype(int).tolist(),
        "nearTies": {
            "clusters": tie_clusters.tolist(),
            "colors": base64.b64encode(tie_colors.tobytes()).decode("ascii"),
            "tokens": tie_tokens.astype(int).tolist(),
        },
        "stats": stats,
    }
    path = os.path.join(out_dir, "processor.json")
    with open(path, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
    print(f"wrote {path} ({os.path.getsize(path)} bytes): {len(cases)} images x {len(SIZES)} sizes, "
          f"{len(colors)} colors; Pillow {PIL.__version__}, numpy {np.__version__}")
    filter_cases = []
    for name, kind, width, height, channels, seed in CASES:
        if name not in FILTER_CASES:
            continue
        rgb = to_rgb(make_image(kind, width, height, channels, seed))
        outputs = []
        for h, w in SIZES:
            resized = {f: base64.b64encode(pil_resize(rgb, h, w, v).tobytes()).decode("ascii") for f, v in FILTERS.items()}
            outputs.append({"height": h, "width": w, "rgb": resized})
        filter_cases.append({"name": name, "outputs": outputs})
    filters_path = os.path.join(out_dir, "processor-filters.json")
    with open(filters_path, "w") as f:
        json.dump({"generator": "weights-tools/make_processor_fixtures.py", "pillow": PIL.__version__,
                   "filters": {k: int(v) for k, v in FILTERS.items()}, "cases": filter_cases}, f, separators=(",", ":"))
    print(f"wrote {filters_path} ({os.path.getsize(filters_path)} bytes): {len(filter_cases)} images x {len(SIZES)} sizes x "
          f"{len(FILTERS)} filters")
    print(f"tokens differing from the direct float64 distance: {stats['direct_differs']} of {stats['pixels']}; "
          f"from an FMA dot product: {stats['fma_differs']}; colors: {stats['colors_direct_differs']} and "
          f"{stats['colors_fma_differs']} of {len(colors)}; near ties: {stats['ties_direct_differs']} and "
          f"{stats['ties_fma_differs']} of {len(tie_colors)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/processor"))
