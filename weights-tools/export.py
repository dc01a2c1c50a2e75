"""Export a training checkpoint as an HF-format model folder, with samples and a model card.

    /usr/bin/python3 weights-tools/export.py weights-tools/runs/emoji-16/checkpoint.pt models/emoji-16 \
        [--log weights-tools/runs/emoji-16/log.jsonl] [--config C] [--temperature T --top-k K] [--donor-commit C --donor-note TEXT]
    /usr/bin/python3 weights-tools/export.py --e2e-fixture models/emoji-16 test/fixtures/emoji16

Writes model.safetensors (f16, HF tensor names, no mask buffers), config.json, preprocessor_config.json
(HF's ImageGPTImageProcessor fields with the k-means `clusters`), generation_config.json (the sampling defaults:
--temperature, --top-k, which the demo uses for this model), samples.png and README.md.
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


def write_generation_config(out_dir: str, temperature: float, top_k: int) -> None:
    """generation_config.json: Hugging Face's sampling defaults file, which the demo reads for this model's
    temperature and top-k sliders (chosen from weights-tools/sweep_defaults.py's measurements)."""
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump({"do_sample": True, "temperature": temperature, "top_k": top_k}, f, indent=2)
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


def sample_grid(model, clusters: np.ndarray, size: int, path: str, seed: int = 0, n_completions: int = 8,
                n_variants: int = 3, n_uncond: int = 16, temperature: float = 1.0, top_k: int = 40) -> List[dict]:
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
    completions = generate(model, prefix, n, top_k=top_k, temperature=temperature, generator=g).reshape(len(picks), n_variants, n)
    uncond = generate(model, torch.full((n_uncond, 1), SOS), n, top_k=top_k, temperature=temperature, generator=g)

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

- Data: {data}
- Held-out split: ~10 % of emoji names per category (`weights-tools/split.json`), both vendors and all
  variants of a name on the same side; never trained on.
- Palette: k-means (512 colors) over the training pixels in `x/127.5 − 1` space{palette_note}; images tokenized
  with HF's color quantization.
- Sequences: input `[SOS, t0 … t{last_input}]`, targets `[t0 … t{last_target}]`.
- Optimizer: AdamW (β 0.9/0.95, weight decay {weight_decay} on matrices), lr {lr}, {warmup} warmup steps then
  cosine to 10 %, batch {batch} images, dropout {dropout}, gradient clipping 1.0.
- Compute: {steps} steps in {minutes} minutes of training ({wall_minutes} minutes wall time with evaluations) on one
  CPU thread (2-core shared machine, OpenBLAS with `OPENBLAS_CORETYPE=SKYLAKEX`), seed {seed}.{init_note}
{curve}
## Results (bits per token; 9 bits = uniform over 512 colors)

| split | checkpoint (f32), {eval_images} images | shipped weights (f16), all held-out images |
|---|---|---|
| train (random training images) | {train_bpt:.3f} | |
| held-out ({heldout_images} images in all) | {heldout_bpt:.3f} | {heldout_bpt_f16:.3f} |

The f32 columns come from the training log (a fixed random sample of {eval_images} images per split when
fewer than all, so they are noisy); the f16 figure is measured on every held-out image by `export.py`.

`samples.png`: each of the first {n_rows} rows is a held-out emoji: original, palette-quantized, top half kept,
then {n_variants} completions of the bottom half sampled by this model ({sampling}).
Below them: 16 unconditional samples from SOS (the same settings). Generated with the PyTorch reference
(`weights-tools/imagegpt_torch.py`) from the f16 weights upcast to f32.
Held-out rows: {rows_list}.

![samples](samples.png)

## Reproduce

```sh
/usr/bin/python3 weights-tools/prepare_data.py{prepare_flags}            # fetches the npm packages, writes weights-tools/data/
OB=weights-tools/.cache/openblas    # optional but ~30x faster than Debian's reference BLAS:
(mkdir -p $OB && cd $OB && apt-get download libopenblas0-pthread && dpkg -x libopenblas0-pthread_*.deb root)
{donor_command}LD_LIBRARY_PATH=$OB/root/usr/lib/x86_64-linux-gnu/openblas-pthread OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SKYLAKEX \\
  /usr/bin/python3 weights-tools/train.py --config {config_path} --seed {seed} --steps {steps}{init_flag}
```

{schedule_note}

## Licenses

- Model weights: trained by this project; they are derived from the images below, so keep their notices.
- Noto Emoji (Google): Apache License 2.0 — https://github.com/googlefonts/noto-emoji
- Twemoji (Twitter, Inc. and other contributors): CC-BY 4.0 — https://github.com/twitter/twemoji
  (graphics licensed under CC-BY 4.0, https://creativecommons.org/licenses/by/4.0/).
- emoji-datasource packages (iamcal/emoji-data): MIT.{fluent_licence}
"""

FLUENT_LICENCE = """
- Fluent Emoji (Microsoft): MIT — https://github.com/microsoft/fluentui-emoji (through the npm package
  `@iconify-json/fluent-emoji-flat@1.2.6`)."""


def data_description(size: int, train_images_logged: Optional[int]) -> Dict[str, object]:
    """The card's data sentence, read from weights-tools/data/emoji-<size>/index.json (what the run trained on,
    checked against the log's training-image count when there is one)."""
    from train import load_data  # train imports this module; import lazily

    _, index = load_data(size)
    train = [r for r in index if r["split"] == "train"]
    held = len(index) - len(train)
    if train_images_logged is not None and train_images_logged != len(train):
        raise ValueError(f"weights-tools/data/emoji-{size} has {len(train)} training images but the run's log says "
                         f"{train_images_logged}: prepare the data the run used before exporting")
    fluent = sum(r["vendor"] == "fluent" for r in train)
    extra = sum(bool(r.get("extra_variant")) for r in train)
    flippable = sum(bool(r.get("flip")) for r in train)
    text = ("emoji from the npm packages `emoji-datasource-google@16.0.0` (Noto Emoji images) and "
            "`emoji-datasource-twitter@16.0.0` (Twemoji images): the \"clean\" 64-px sprite sheets")
    if fluent:
        text += (", and Microsoft's Fluent Emoji (flat) from `@iconify-json/fluent-emoji-flat@1.2.6`, rendered from SVG "
                 "at 64 px with `rsvg-convert`, training names only")
    text += f"; composited onto white, resized to {size}×{size} with PIL bilinear. "
    if extra:
        text += ("Every skin-tone variant is kept but weighed down: an emoji's base image weighs 1 and its variants "
                 "share a weight of 1, and batches are drawn in proportion to the weights, so people are about a third "
                 "of what the model sees. ")
    else:
        text += "Base emoji plus one skin-tone variant per emoji and vendor (so people do not dominate). "
    detail = [f"{extra} of them extra skin-tone variants"] if extra else []
    if fluent:
        detail.append(f"{fluent} Fluent")
    text += f"{len(train)} training images" + (f" ({', '.join(detail)})" if detail else "") + f", {held} held-out images."
    return {"text": text, "fluent": fluent > 0, "flippable": flippable}


def log_summary(entries: List[dict]) -> dict:
    """Figures for the card from a run's log.jsonl, resumed runs included: the last evaluation, the training
    minutes and wall minutes summed over the run's sessions, each session's schedule, the curve."""
    start = [e for e in entries if e["event"] == "start"]
    evals = [e for e in entries if e["event"] in ("eval", "final")]
    if not start or not evals:
        raise ValueError("the log has no start or no evaluation event")
    final = evals[-1]
    # A session (one train.py invocation) opens with "init", "resume" or "start"; these three follow each other.
    sessions: List[List[dict]] = []
    for e in entries:
        opens = e["event"] in ("init", "resume", "start")
        if not sessions or (opens and sessions[-1][-1]["event"] not in ("init", "resume")):
            sessions.append([])
        sessions[-1].append(e)
    timed = [[e for e in session if "time" in e] for session in sessions]
    wall = sum(t[-1]["time"] - t[0]["time"] for t in timed if t)
    schedule = []  # (training minutes at the session's start, the session's --max-minutes)
    for e in start:
        before = [v for v in evals if v["time"] < e["time"]]
        schedule.append((before[-1]["minutes"] if before else 0.0, e["max_minutes"]))
    init = next((e for e in entries if e["event"] == "init"), None)
    return {"steps": final["step"], "train_minutes": final["minutes"], "train_bpt": final["train_bpt"],
            "heldout_bpt": final["heldout_bpt"], "train_images": start[-1]["train_images"],
            "eval_images": final.get("eval_images", start[-1]["heldout_images"]),
            "heldout_images": start[-1]["heldout_images"], "seed": start[-1]["seed"],
            "max_minutes_used": start[-1]["max_minutes"], "schedule_steps": start[-1].get("steps"),
            "wall_minutes": round(wall / 60, 1), "schedule": schedule,
            "donor_layers": init["donor_layers"] if init else None,
            "curve": [(e["minutes"], e["step"], e["train_bpt"], e["heldout_bpt"]) for e in evals]}


def curve_table(curve: List[tuple], eval_images: object) -> str:
    lines = ["", "## Curve", "",
             f"| training minutes | step | train bits/token | held-out bits/token (f32, {eval_images} images) |",
             "|---|---|---|---|"]
    lines += [f"| {m:.1f} | {step} | {tr:.3f} | {he:.3f} |" for m, step, tr, he in curve]
    lines += ["", "Train bits/token are on a fixed random sample of the training rows, drawn uniformly, unmirrored and "
              "without the skin-tone weights (where the data has every variant, two rows in five are people), so "
              "the column is not the training loss itself.", ""]
    return "\n".join(lines)


def schedule_text(info: dict, cfg: dict) -> str:
    if info.get("schedule_steps"):
        return f"This run used a step schedule (`--steps {info['schedule_steps']}`)."
    schedule = info.get("schedule") or [(0.0, info.get("max_minutes_used", cfg["max_minutes"]))]
    if len(schedule) == 1:
        return (f"This run used a wall-clock schedule (`--max-minutes {schedule[0][1]}`, cosine over elapsed training "
                "time); `--steps` with the step count above gives the same schedule measured in steps, so a re-run "
                "lands close to, not bit-identical with, these weights (timing-dependent).")
    parts = [f"from minute {m:g} under a {mm:g}-minute cosine" for m, mm in schedule]
    return ("This run used wall-clock schedules and was resumed (`--resume --max-minutes M` continues at the training "
            "minutes already done, on the new schedule's curve): " + "; ".join(parts) + ". The restarts lifted the "
            "learning rate a little each time. `--steps` with the step count above gives one cosine over the steps "
            "instead, so a re-run lands close to, not bit-identical with, these weights.")


def init_text(cfg: dict, info: dict, donor_commit: Optional[str], donor_note: Optional[str]) -> Dict[str, str]:
    """The card's lines about a run that started from another model: how it was initialized, and the reproduce
    command's extra line and flag (the donor as committed, when the folder now holds this model)."""
    init_from = cfg.get("init_from")
    if not init_from:
        return {"init_note": "", "origin": "from scratch", "palette_note": "", "donor_command": "", "init_flag": ""}
    donor = f"`{init_from}`" + (f" as committed in {donor_commit}" if donor_commit else "")
    layers = info.get("donor_layers")
    if layers is not None and layers < cfg["n_layer"]:
        note = (f"\n- Grown from {donor} ({layers} layers{'; ' + donor_note if donor_note else ''}): its weights and "
                f"palette copied, blocks {layers + 1}–{cfg['n_layer']} added as identities (their two output "
                "projections zero, `deepen` in `train.py`), so training started from the donor's loss. The minutes "
                "above are this model's; the donor's own training is on its card.")
        origin = f"grown from a {layers}-layer {init_from}"
    else:
        note = (f"\n- Initialized from {donor} (all weights and its palette; position embeddings upsampled "
                "nearest-neighbour from its grid), then trained on this resolution.")
        origin = f"starting from `{init_from}`"
    command, flag = "", ""
    if donor_commit:
        command = (f"mkdir -p /tmp/donor && git archive {donor_commit} {init_from} | tar -x -C /tmp/donor   "
                   "# the donor as it was\n")
        flag = f" --init-from /tmp/donor/{init_from}"
    return {"init_note": note, "origin": origin, "donor_command": command, "init_flag": flag,
            "palette_note": f" (the palette of {donor}, fitted on its training images)"}


def export_run(ckpt_path: str, out_dir: str, extra: Optional[dict] = None, temperature: float = 1.0, top_k: int = 40,
               donor_commit: Optional[str] = None, donor_note: Optional[str] = None) -> None:
    state = torch.load(ckpt_path)
    cfg = state["config"]
    size = cfg["size"]
    clusters = np.array(state["clusters"], dtype=np.float64)
    config = ImageGPTConfig(vocab_size=513, n_positions=size * size, n_embd=cfg["n_embd"], n_layer=cfg["n_layer"],
                            n_head=cfg["n_head"], resid_pdrop=cfg["dropout"], embd_pdrop=cfg["dropout"],
                            attn_pdrop=cfg["dropout"])
    info = dict(extra or {})
    data = data_description(size, info.get("train_images"))
    write_model_folder(out_dir, {k: v.to(torch.float16) for k, v in state["model"].items()}, config, clusters, size)
    write_generation_config(out_dir, temperature, top_k)

    model, clusters, _ = load_model_dir(out_dir)
    pixels, _ = heldout_data(size)
    held_tokens = torch.from_numpy(quantize(pixels, clusters).reshape(len(pixels), -1))
    from train import bits_per_token

    heldout_f16 = bits_per_token(model, held_tokens)
    n_rows, n_variants = 8, 3
    rows = sample_grid(model, clusters, size, os.path.join(out_dir, "samples.png"), seed=state["seed"],
                       n_completions=n_rows, n_variants=n_variants, temperature=temperature, top_k=top_k)
    n = size * size
    card = CARD.format(
        name=cfg["name"], size=size, n_embd=cfg["n_embd"], n_layer=cfg["n_layer"], n_head=cfg["n_head"], n_positions=n,
        params=sum(v.numel() for v in state["model"].values()),
        file_kib=os.path.getsize(os.path.join(out_dir, "model.safetensors")) // 1024,
        data=data["text"], heldout_images=info.get("heldout_images", len(pixels)),
        last_input=n - 2, last_target=n - 1, weight_decay=cfg["weight_decay"], lr=cfg["lr"],
        warmup=cfg["warmup_steps"], batch=cfg["batch_size"], dropout=cfg["dropout"],
        steps=info.get("steps", state["step"]),
        minutes=info.get("train_minutes", round(state["trained_seconds"] / 60, 1)), seed=state["seed"],
        train_bpt=info.get("train_bpt", float("nan")), heldout_bpt=info.get("heldout_bpt", float("nan")),
        heldout_bpt_f16=heldout_f16, eval_images=info.get("eval_images", len(pixels)), n_rows=n_rows, n_variants=n_variants,
        sampling=f"top-k {top_k or 'off'}, temperature {temperature:g}: the defaults in `generation_config.json`, "
                 "which the demo uses for this model",
        rows_list=", ".join(f"{r['name']} ({r['vendor']}, {r['category']})" for r in rows),
        config_path=info.get("config_path", f"weights-tools/configs/{cfg['name']}.json"),
        wall_minutes=info.get("wall_minutes", "?"),
        curve=curve_table(info["curve"], info.get("eval_images", len(pixels))) if info.get("curve") else "",
        schedule_note=schedule_text(info, cfg),
        prepare_flags=" --fluent" if data["fluent"] else "",
        fluent_licence=FLUENT_LICENCE if data["fluent"] else "",
        **init_text(cfg, info, donor_commit, donor_note),
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
    parser.add_argument("--log", help="the run's log.jsonl, to fill the card's figures and curve")
    parser.add_argument("--temperature", type=float, default=1.0, help="samples.png's sampling (the demo's default)")
    parser.add_argument("--top-k", type=int, default=40, help="samples.png's sampling (the demo's default; 0 = off)")
    parser.add_argument("--config", help="the run's config, for the card's reproduce line (default: "
                        "weights-tools/configs/<name>.json)")
    parser.add_argument("--donor-commit", help="the commit holding the donor model (init_from) the run started from")
    parser.add_argument("--donor-note", help="a few words on the donor for the card (its size, training, loss)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.e2e_fixture:
        make_e2e_fixture(args.source, args.out)
        return 0
    extra: dict = {}
    if args.log:
        with open(args.log) as f:
            extra = log_summary([json.loads(line) for line in f])
    if args.config:
        extra["config_path"] = args.config
    export_run(args.source, args.out, extra, temperature=args.temperature, top_k=args.top_k,
               donor_commit=args.donor_commit, donor_note=args.donor_note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
