"""Write the runtime's model fixtures: tiny random ImageGPTs with their float64 reference outputs.

    /usr/bin/python3 weights-tools/make_model_fixtures.py [--out test/fixtures]

Folders written (each: config.json, model.safetensors, expected.safetensors):
- tiny/        n_embd 64, 2 layers, 4 heads, n_positions 64: logits [2, 64, 512] and hidden_states.0..2.
- tiny-inv/    scale_attn_by_inverse_layer_idx true (n_embd 32, 3 layers so the 1/(i+1) differs per layer),
               input of 16 tokens (fewer than n_positions 32).
- classifier/  ImageGPTForImageClassification (n_embd 48, 2 layers, 4 heads of 12), 5 labels:
               logits [2, 5] and hidden_states.0..2 [2, 64, 48].
Smaller widths than tiny/ keep all three under 2 MB and catch code that assumes one shape.

Weights are random at a realistic scale (not HF's init: layer-norm weights around 1 rather than all ones,
non-zero biases, wider matrices) so that logits spread and attention is neither uniform nor one-hot.
They are stored as f32; the reference is computed in float64 from those exact f32 values, then cast.
model.safetensors also carries HF's mask buffers (attn.bias uint8, attn.masked_bias) to test skipping them.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imagegpt_torch import (  # noqa: E402
    SOS,
    ImageGPTConfig,
    ImageGPTForCausalImageModeling,
    ImageGPTForImageClassification,
    hf_mask_buffers,
)
from safetensors_py import save_file  # noqa: E402

# Standard deviation per kind of tensor (by name suffix).
_STD = {
    "wte.weight": 0.2,
    "wpe.weight": 0.1,
    "c_attn.weight": 0.2,
    "attn.c_proj.weight": 0.12,
    "c_fc.weight": 0.15,
    "mlp.c_proj.weight": 0.08,
    "lm_head.weight": 0.2,
    "score.weight": 0.3,
}


def randomize(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
                value = 1.0 + 0.2 * noise
            elif name.endswith(".bias"):
                value = 0.05 * noise
            else:
                std = next(s for suffix, s in _STD.items() if name.endswith(suffix))
                value = std * noise
            # Round to f32 first: the stored weights are f32 and the reference must use exactly them.
            p.copy_(value.float().double())


def write_config(path: str, config: ImageGPTConfig, classifier: bool) -> None:
    d = config.to_hf_dict(classifier=classifier)
    d["resid_pdrop"] = d["embd_pdrop"] = d["attn_pdrop"] = 0.0
    with open(path, "w") as f:
        json.dump(d, f, indent=2)
        f.write("\n")


def weights_f32(model: torch.nn.Module, config: ImageGPTConfig) -> Dict[str, torch.Tensor]:
    tensors: Dict[str, torch.Tensor] = {}
    buffers = hf_mask_buffers(config)
    for name, p in model.state_dict().items():
        tensors[name] = p.float()
        # Put each layer's buffers after its weights, the way HF state dicts interleave them.
        if name.endswith("attn.c_attn.bias"):
            prefix = name[: -len("c_attn.bias")]
            tensors[prefix + "bias"] = buffers[prefix + "bias"]
            tensors[prefix + "masked_bias"] = buffers[prefix + "masked_bias"]
    return tensors


def make_input_ids(seed: int, t: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 512, (2, t), generator=g)
    ids[0, 0] = SOS  # row 0 is OpenAI-style (SOS first); row 1 is HF-style (image tokens only)
    # Make sure the extremes of the image-token range appear.
    ids[1, 1] = 0
    ids[1, 2] = 511
    return ids


def hidden_entries(hidden) -> Dict[str, torch.Tensor]:
    return {f"hidden_states.{i}": h.float() for i, h in enumerate(hidden)}


def make_fixture(out_dir: str, config: ImageGPTConfig, seed: int, t: int, classifier: bool = False) -> None:
    os.makedirs(out_dir, exist_ok=True)
    model_class = ImageGPTForImageClassification if classifier else ImageGPTForCausalImageModeling
    model = model_class(config).double().eval()
    randomize(model, seed)
    ids = make_input_ids(seed + 1, t)
    with torch.no_grad():
        logits, hidden = model(ids, output_hidden_states=True)[:2]
    write_config(os.path.join(out_dir, "config.json"), config, classifier=classifier)
    save_file(weights_f32(model, config), os.path.join(out_dir, "model.safetensors"), {"format": "pt"})
    expected = {"input_ids": ids.to(torch.int32), "logits": logits.float(), **hidden_entries(hidden)}
    save_file(expected, os.path.join(out_dir, "expected.safetensors"))
    report(out_dir, logits)


def report(out_dir: str, logits: torch.Tensor) -> None:
    size = sum(os.path.getsize(os.path.join(out_dir, f)) for f in os.listdir(out_dir))
    print(f"{out_dir}: logits {tuple(logits.shape)} std {logits.std().item():.3f} "
          f"range {logits.min().item():.2f}..{logits.max().item():.2f}, {size / 1024:.0f} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "test", "fixtures"))
    args = parser.parse_args()
    tiny = dict(vocab_size=513, n_positions=64, n_embd=64, n_layer=2, n_head=4)
    make_fixture(os.path.join(args.out, "tiny"), ImageGPTConfig(**tiny), seed=1, t=64)
    make_fixture(
        os.path.join(args.out, "tiny-inv"),
        ImageGPTConfig(vocab_size=513, n_positions=32, n_embd=32, n_layer=3, n_head=4,
                       scale_attn_by_inverse_layer_idx=True),
        seed=2,
        t=16,
    )
    labels = ["smileys", "animals", "food", "travel", "flags"]
    make_fixture(
        os.path.join(args.out, "classifier"),
        ImageGPTConfig(vocab_size=513, n_positions=64, n_embd=48, n_layer=2, n_head=4, num_labels=len(labels),
                       id2label={str(i): name for i, name in enumerate(labels)}),
        seed=3,
        t=64,
        classifier=True,
    )


if __name__ == "__main__":
    main()
