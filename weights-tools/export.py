"""Export a training checkpoint as an HF-format model folder, with samples and a model card.

    /usr/bin/python3 weights-tools/export.py weights-tools/runs/emoji-16/checkpoint.pt models/emoji-16
    /usr/bin/python3 weights-tools/export.py --e2e-fixture models/emoji-16 test/fixtures/emoji16

Writes model.safetensors (f16, HF tensor names, no mask buffers), config.json, preprocessor_config.json
(HF's ImageGPTImageProcessor fields with the k-means `clusters`), samples.png and README.md.
The samples and the held-out loss in the card are computed from the exported f16 weights (upcast to f32),
i.e. from exactly what ships.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Dict, List, Optional

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from imagegpt_torch import SOS, ImageGPTConfig, ImageGPTForCausalImageModeling, generate, load_hf_state_dict  # noqa: E402
from palette import quantize, tokens_to_pixels  # noqa: E402
from safetensors_py import load_file, save_file  # noqa: E402

ROOT = os.path.join(HERE, "..")


def preprocessor_config(clusters: np.ndarray, size: int) -> dict:
    return {
        # Our extension (HF ignores it): the training emoji were composited onto white, so RGBA inputs are too.
        "background_color": [255, 255, 255],
        "clusters": [[float(v) for v in row] for row in clusters],
        "do_color_quantize": True,
        "do_normalize": True,
        "do_resize": True,
        "image_processor_type": "ImageGPTImageProcessor",
        "resample": 2,
        "size": {"height": size, "width": size},
    }


def write_model_folder(out_dir: str, weights: Dict[str, torch.Tensor], config: ImageGPTConfig, clusters: np.ndarray, size: int) -> None:
    """A model folder as the runtime and HF load it: model.safetensors (the weights as given, f16 here), config.json
    and preprocessor_config.json."""
    os.makedirs(out_dir, exist_ok=True)
    save_file(weights, os.path.join(out_dir, "model.safetensors"), {"format": "pt"})
    hf = config.to_hf_dict()
    hf["torch_dtype"] = "float16"
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(hf, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "preprocessor_config.json"), "w") as f:
        json.dump(preprocessor_config(clusters, size), f)
        f.write("\n")


def load_model_dir(model_dir: str, dtype=torch.float32):
    """(model with the folder's f16 weights upcast to dtype, clusters [512, 3] float64, image size)."""
    config = ImageGPTConfig.from_json_file(os.path.join(model_dir, "config.json"))
    model = ImageGPTForCausalImageModeling(config).to(dtype).eval()
    load_hf_state_dict(model, {k: v.astype(np.float64) for k, v in load_file(os.path.join(model_dir, "model.safetensors")).items()})
    with open(os.path.join(model_dir, "preprocessor_config.json")) as f:
        pre = json.load(f)
    return model, np.array(pre["clusters"], dtype=np.float64), pre["size"]["height"]


def heldout_data(size: int):
    from train import load_data  # train imports this module; import lazily

    pixels, index = load_data(size)
    held = [i for i, r in enumerate(index) if r["split"] == "heldout"]
    return pixels[held], [index[i] for i in held]


def pick_varied(index: List[dict], count: int, seed: int) -> List[int]:
    """Base (no skin variant) held-out images, round-robin over categories and vendors."""
    rng = np.random.default_rng(seed)
    by_cat: Dict[str, List[int]] = {}
    for i, r in enumerate(index):
        if r["variant"] == "" and r["category"] != "Component":
            by_cat.setdefault(r["category"], []).append(i)
    for items in by_cat.values():
        rng.shuffle(items)
    chosen: List[int] = []
    cats = sorted(by_cat)
    rng.shuffle(cats)
    while len(chosen) < count:
        for c in cats:
            if by_cat[c] and len(chosen) < count:
                chosen.append(by_cat[c].pop())
    return chosen


def sample_grid(model, clusters: np.ndarray, size: int, path: str, seed: int = 0,
                n_completions: int = 8, n_variants: int = 3, n_uncond: int = 16) -> None:
    """PNG: rows of [original | quantized | top half kept | completions...], then unconditional samples."""
    from PIL import Image  # only here: train_gpu.py imports this module on machines that may lack PIL

    pixels, index = heldout_data(size)
    picks = pick_varied(index, n_completions, seed)
    n = size * size
    tokens = torch.from_numpy(quantize(pixels[picks], clusters).reshape(len(picks), n))
    g = torch.Generator().manual_seed(seed)
    half = n // 2
    prefix = torch.cat([torch.full((len(picks), 1), SOS), tokens[:, :half]], dim=1)
    prefix = prefix.repeat_interleave(n_variants, dim=0)
    completions = generate(model, prefix, n, top_k=40, temperature=1.0, generator=g).reshape(len(picks), n_variants, n)
    uncond = generate(model, torch.full((n_uncond, 1), SOS), n, top_k=40, temperature=1.0, generator=g)

    def img(t: torch.Tensor) -> np.ndarray:
        return tokens_to_pixels(t.numpy().reshape(size, size), clusters)

    scale = max(1, 64 // size)
    cell, gap = size * scale, 4
    cols = 3 + n_variants
    rows = len(picks) + math.ceil(n_uncond / cols) + 1
    canvas = Image.new("RGB", (cols * (cell + gap) + gap, rows * (cell + gap) + gap), (200, 200, 200))

    def put(arr: np.ndarray, r: int, c: int) -> None:
        im = Image.fromarray(arr).resize((cell, cell), Image.NEAREST)
        canvas.paste(im, (gap + c * (cell + gap), gap + r * (cell + gap)))

    for r in range(len(picks)):
        put(pixels[picks[r]], r, 0)
        put(img(tokens[r]), r, 1)
        kept = img(tokens[r]).copy()
        kept[size // 2:] = 255
        put(kept, r, 2)
        for v in range(n_variants):
            put(img(completions[r, v]), r, 3 + v)
    for j in range(n_uncond):
        put(img(uncond[j]), len(picks) + 1 + j // cols, j % cols)
    canvas.save(path, optimize=True)
    return [index[i] for i in picks]


CARD = """# {name}: a {size}×{size} ImageGPT trained on emoji

A small ImageGPT (Hugging Face `ImageGPTForCausalImageModeling` architecture and tensor names: quick-GELU,
non-centering layer norm, untied 512-wide head, SOS token 512) trained on CPU for this project
({origin}). It loads like any HF ImageGPT checkpoint: `model.safetensors` (f16), `config.json`,
`preprocessor_config.json` (a 512-color palette in HF's normalized `clusters` format, resize to
{size}×{size} with bilinear filtering, and `"background_color": [255, 255, 255]`, an imagegpt-webgpu
extension that Hugging Face ignores: transparent inputs are composited onto white, as the training images were).

## Model

| field | value |
|---|---|
| n_embd / n_layer / n_head | {n_embd} / {n_layer} / {n_head} |
| n_positions | {n_positions} ({size}×{size} tokens) |
| parameters | {params:,} |
| weights | f16 safetensors, {file_kib:,} KiB |

## Training

- Data: emoji from the npm packages `emoji-datasource-google@16.0.0` (Noto Emoji images) and
  `emoji-datasource-twitter@16.0.0` (Twemoji images): the "clean" 64-px sprite sheets, composited onto
  white, resized to {size}×{size} with PIL bilinear. Base emoji plus one skin-tone variant per emoji and vendor
  (so people do not dominate). {train_images} training images, {heldout_images} held-out images.
- Held-out split: ~10 % of emoji names per category (`weights-tools/split.json`), both vendors and all
  variants of a name on the same side; never trained on.
- Palette: k-means (512 colors) over the training pixels in `x/127.5 − 1` space{palette_note}; images tokenized
  with HF's color quantization.
- Sequences: input `[SOS, t0 … t{last_input}]`, targets `[t0 … t{last_target}]`.
- Optimizer: AdamW (β 0.9/0.95, weight decay {weight_decay} on matrices), lr {lr}, {warmup} warmup steps then
  cosine to 10 %, batch {batch} images, dropout {dropout}, gradient clipping 1.0.
- {steps} steps in {minutes} minutes of training ({wall_minutes} minutes wall time with evaluations) on one
  CPU thread (2-core shared machine, OpenBLAS with `OPENBLAS_CORETYPE=SKYLAKEX`), seed {seed}.{init_note}

## Results (bits per token; 9 bits = uniform over 512 colors)

| split | checkpoint (f32), {eval_images} images | shipped weights (f16), all held-out images |
|---|---|---|
| train (random training images) | {train_bpt:.3f} | |
| held-out ({heldout_images} images in all) | {heldout_bpt:.3f} | {heldout_bpt_f16:.3f} |

The f32 columns come from the training log (a fixed random sample of {eval_images} images per split when
fewer than all, so they are noisy); the f16 figure is measured on every held-out image by `export.py`.

`samples.png`: each of the first {n_rows} rows is a held-out emoji: original, palette-quantized, top half kept,
then {n_variants} completions of the bottom half sampled by this model (top-k 40, temperature 1).
Below them: unconditional samples from SOS (top-k 40, temperature 1). Generated with the PyTorch reference
(`weights-tools/imagegpt_torch.py`) from the f16 weights upcast to f32.
Held-out rows: {rows_list}.

![samples](samples.png)

## Reproduce

```sh
/usr/bin/python3 weights-tools/prepare_data.py            # fetches the npm packages, writes weights-tools/data/
OB=weights-tools/.cache/openblas    # optional but ~30x faster than Debian's reference BLAS:
(mkdir -p $OB && cd $OB && apt-get download libopenblas0-pthread && dpkg -x libopenblas0-pthread_*.deb root)
LD_LIBRARY_PATH=$OB/root/usr/lib/x86_64-linux-gnu/openblas-pthread OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SKYLAKEX \\
  /usr/bin/python3 weights-tools/train.py --config {config_path} --seed {seed} --steps {steps}
```

{schedule_note}

## Licenses

- Model weights: trained by this project; they are derived from the images below, so keep their notices.
- Noto Emoji (Google): Apache License 2.0 — https://github.com/googlefonts/noto-emoji
- Twemoji (Twitter, Inc. and other contributors): CC-BY 4.0 — https://github.com/twitter/twemoji
  (graphics licensed under CC-BY 4.0, https://creativecommons.org/licenses/by/4.0/).
- emoji-datasource packages (iamcal/emoji-data): MIT.
"""


def export_run(ckpt_path: str, out_dir: str, extra: Optional[dict] = None) -> None:
    state = torch.load(ckpt_path)
    cfg = state["config"]
    size = cfg["size"]
    clusters = np.array(state["clusters"], dtype=np.float64)
    config = ImageGPTConfig(vocab_size=513, n_positions=size * size, n_embd=cfg["n_embd"], n_layer=cfg["n_layer"],
                            n_head=cfg["n_head"], resid_pdrop=cfg["dropout"], embd_pdrop=cfg["dropout"],
                            attn_pdrop=cfg["dropout"])
    write_model_folder(out_dir, {k: v.to(torch.float16) for k, v in state["model"].items()}, config, clusters, size)

    model, clusters, _ = load_model_dir(out_dir)
    pixels, _ = heldout_data(size)
    held_tokens = torch.from_numpy(quantize(pixels, clusters).reshape(len(pixels), -1))
    from train import bits_per_token

    heldout_f16 = bits_per_token(model, held_tokens)
    n_rows, n_variants = 8, 3
    rows = sample_grid(model, clusters, size, os.path.join(out_dir, "samples.png"), seed=state["seed"],
                       n_completions=n_rows, n_variants=n_variants)
    info = dict(extra or {})
    n = size * size
    card = CARD.format(
        name=cfg["name"], size=size, n_embd=cfg["n_embd"], n_layer=cfg["n_layer"], n_head=cfg["n_head"], n_positions=n,
        params=sum(v.numel() for v in state["model"].values()),
        file_kib=os.path.getsize(os.path.join(out_dir, "model.safetensors")) // 1024,
        train_images=info.get("train_images", "?"), heldout_images=info.get("heldout_images", len(pixels)),
        last_input=n - 2, last_target=n - 1, weight_decay=cfg["weight_decay"], lr=cfg["lr"],
        warmup=cfg["warmup_steps"], batch=cfg["batch_size"], dropout=cfg["dropout"],
        steps=info.get("steps", state["step"]),
        minutes=info.get("train_minutes", round(state["trained_seconds"] / 60, 1)), seed=state["seed"],
        train_bpt=info.get("train_bpt", float("nan")), heldout_bpt=info.get("heldout_bpt", float("nan")),
        heldout_bpt_f16=heldout_f16, eval_images=info.get("eval_images", len(pixels)), n_rows=n_rows, n_variants=n_variants,
        rows_list=", ".join(f"{r['name']} ({r['vendor']}, {r['category']})" for r in rows),
        config_path=info.get("config_path", f"weights-tools/configs/{cfg['name']}.json"),
        wall_minutes=info.get("wall_minutes", "?"),
        palette_note=f" (the palette of `{cfg['init_from']}`, fitted on its training images)" if cfg.get("init_from") else "",
        origin=f"starting from `{cfg['init_from']}`" if cfg.get("init_from") else "from scratch",
        init_note=(
            f"\n- Initialized from `{cfg['init_from']}` (all weights and its palette; position embeddings upsampled "
            "nearest-neighbour from its grid), then trained on this resolution." if cfg.get("init_from") else ""
        ),
        schedule_note=(
            f"This run used a step schedule (`--steps {info['schedule_steps']}`)." if info.get("schedule_steps") else
            f"This run used a wall-clock schedule (`--max-minutes {info.get('max_minutes_used', cfg['max_minutes'])}`, "
            "cosine over elapsed training time); `--steps` with the step count above gives the same schedule measured "
            "in steps, so a re-run lands close to, not bit-identical with, these weights (timing-dependent)."
        ),
    )
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write(card)
    print(json.dumps({"event": "exported", "out": out_dir, "heldout_bpt_f16": round(heldout_f16, 4)}), flush=True)


@torch.no_grad()
def make_e2e_fixture(model_dir: str, out_dir: str) -> None:
    """Two gallery (held-out) images: pixels, HF tokens, the f16 model's logits (float64 math, cast to f32)
    for [SOS, t0 .. t(n-2)], and the greedy continuation of their top halves."""
    from PIL import Image

    model, clusters, size = load_model_dir(model_dir, torch.float64)
    with open(os.path.join(ROOT, "demo", "public", "gallery", "gallery.json")) as f:
        gallery = json.load(f)
    chosen = [gallery[0], next(e for e in gallery if e["vendor"] != gallery[0]["vendor"])]
    pixels = np.stack([
        np.asarray(Image.open(os.path.join(ROOT, "demo", "public", "gallery", e["file"])).convert("RGB")
                   .resize((size, size), Image.BILINEAR))
        for e in chosen
    ])
    n = size * size
    tokens = torch.from_numpy(quantize(pixels, clusters).reshape(2, n))
    from train import make_inputs

    inputs = make_inputs(tokens)
    logits, _, _ = model(inputs)
    half = n // 2
    prefix = torch.cat([torch.full((2, 1), SOS), tokens[:, :half]], dim=1)
    greedy = generate(model, prefix, n, top_k=1)
    # Smallest gap between the best and second-best logit along the greedy path: how safe argmax is.
    path_logits, _, _ = model(make_inputs(greedy))
    top2 = torch.topk(path_logits[:, half:], 2, dim=-1).values
    margin = float((top2[..., 0] - top2[..., 1]).min())
    os.makedirs(out_dir, exist_ok=True)
    save_file(
        {"pixels": pixels.astype(np.uint8), "tokens": tokens.to(torch.int32), "input_ids": inputs.to(torch.int32),
         "logits": logits.float(), "greedy_tokens": greedy.to(torch.int32)},
        os.path.join(out_dir, "expected.safetensors"),
        {"model": os.path.relpath(model_dir, ROOT), "gallery_files": ",".join(e["file"] for e in chosen),
         "greedy_from": str(half), "greedy_min_top2_margin": f"{margin:.6f}",
         "note": "pixels: gallery PNG resized with PIL BILINEAR; tokens: HF quantization; logits for input_ids = "
                 "[SOS, tokens[:-1]] in float64 from the f16 weights; greedy_tokens: tokens[:greedy_from] kept, the "
                 "rest argmax (top_k 1)."},
    )
    print(f"{out_dir}: {[e['file'] for e in chosen]}, greedy min top-2 margin {margin:.4f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="checkpoint.pt (or, with --e2e-fixture, an exported model folder)")
    parser.add_argument("out", help="output folder")
    parser.add_argument("--e2e-fixture", action="store_true")
    parser.add_argument("--log", help="the run's log.jsonl, to fill the card's figures")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.e2e_fixture:
        make_e2e_fixture(args.source, args.out)
        return 0
    extra: dict = {}
    if args.log:
        with open(args.log) as f:
            entries = [json.loads(line) for line in f]
        start = next(e for e in entries if e["event"] == "start")
        final = [e for e in entries if e["event"] in ("final", "eval")][-1]
        extra = {"steps": final["step"], "train_minutes": final["minutes"], "train_bpt": final["train_bpt"],
                 "heldout_bpt": final["heldout_bpt"], "train_images": start["train_images"],
                 "eval_images": final.get("eval_images", start["heldout_images"]),
                 "heldout_images": start["heldout_images"], "seed": start["seed"],
                 "max_minutes_used": start["max_minutes"],
                 "wall_minutes": round((final.get("time", 0) - start.get("time", 0)) / 60, 1) if "time" in start else "?"}
    export_run(args.source, args.out, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
