"""The 512-color palette (k-means in normalized RGB) and HF-exact color quantization."""
from __future__ import annotations

import numpy as np
import torch


def normalize_like_hf(pixels_u8: np.ndarray) -> np.ndarray:
    """HF's rescale then normalize: float64(x) * (1/127.5) cast to float32, then - 1 in float32."""
    return (pixels_u8.astype(np.float64) * (1 / 127.5)).astype(np.float32) - 1


def quantize(pixels_u8: np.ndarray, clusters: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """Tokens for uint8 RGB pixels [..., 3], as HF's color_quantize computes them.

    Expanded form |x|^2 - 2 x.C + |C|^2 with |x|^2 summed in float32 (the pixels' dtype) and the rest in
    float64 (clusters as loaded from JSON); argmin takes the first index on ties.
    """
    if pixels_u8.dtype != np.uint8 or pixels_u8.shape[-1] != 3:
        raise ValueError(f"pixels must be uint8 [..., 3], got {pixels_u8.dtype} {pixels_u8.shape}")
    c = np.asarray(clusters, dtype=np.float64)
    if c.shape != (512, 3):
        raise ValueError(f"clusters must be [512, 3], got {c.shape}")
    x = normalize_like_hf(pixels_u8.reshape(-1, 3))
    c2 = np.sum(np.square(c.T), axis=0)
    out = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), chunk):
        a = x[start:start + chunk]
        a2 = np.sum(np.square(a), axis=1)
        d = a2[:, None] - 2 * np.matmul(a, c.T) + c2[None, :]
        out[start:start + chunk] = np.argmin(d, axis=1)
    return out.reshape(pixels_u8.shape[:-1])


def tokens_to_pixels(tokens: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """rint(127.5 * (C[t] + 1)) as uint8 (round half to even)."""
    c = np.asarray(clusters, dtype=np.float64)
    return np.rint(127.5 * (c[tokens] + 1)).astype(np.uint8)


def kmeans_palette(pixels_u8: np.ndarray, k: int = 512, iters: int = 20, seed: int = 0) -> np.ndarray:
    """k colors by weighted k-means over the distinct colors of `pixels_u8` ([..., 3]), in x/127.5 - 1 space.

    k-means++ seeding on a count-weighted sample, then Lloyd iterations over all distinct colors weighted
    by their counts. Empty clusters are moved to the worst-fitted color. Returns [k, 3] float64 in [-1, 1].
    """
    colors, counts = np.unique(pixels_u8.reshape(-1, 3), axis=0, return_counts=True)
    if len(colors) < k:
        raise ValueError(f"only {len(colors)} distinct colors for a {k}-color palette")
    g = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(colors.astype(np.float64) / 127.5 - 1)
    w = torch.from_numpy(counts.astype(np.float64))

    x32 = x.float()
    x32_sq = (x32 * x32).sum(1, keepdim=True)

    def nearest(centers: torch.Tensor):
        # Assignment in float32 (speed); the centers themselves are averaged in float64.
        c = centers.float()
        best_d = torch.empty(len(x), dtype=torch.float64)
        best_i = torch.empty(len(x), dtype=torch.int64)
        for s in range(0, len(x), 1 << 14):
            e = s + (1 << 14)
            d = torch.addmm(x32_sq[s:e] + (c * c).sum(1)[None], x32[s:e], c.T, alpha=-2)
            dist, best_i[s:e] = d.min(dim=1)
            best_d[s:e] = dist.double()
        return best_d, best_i

    # k-means++ seeding on a weighted sample (keeps seeding cheap with many distinct colors).
    sample = x[torch.multinomial(w, min(len(x), 20000), replacement=True, generator=g)]
    centers = sample[torch.randint(len(sample), (1,), generator=g)]
    d_min = ((sample - centers[0]) ** 2).sum(1)
    for _ in range(k - 1):
        pick = torch.multinomial(d_min + 1e-12, 1, generator=g)
        centers = torch.cat([centers, sample[pick]])
        d_min = torch.minimum(d_min, ((sample - sample[pick]) ** 2).sum(1))

    for _ in range(iters):
        d, assign = nearest(centers)
        sums = torch.zeros(k, 3, dtype=torch.float64).index_add_(0, assign, x * w[:, None])
        mass = torch.zeros(k, dtype=torch.float64).index_add_(0, assign, w)
        empty = mass == 0
        centers = torch.where(empty[:, None], centers, sums / mass.clamp(min=1e-12)[:, None])
        if empty.any():
            worst = torch.argsort(d * w, descending=True)[: int(empty.sum())]
            centers[empty] = x[worst]
    return centers.clamp(-1, 1).numpy()
