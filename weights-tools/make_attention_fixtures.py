"""Write the attention-weight fixtures beside the model fixtures (make_model_fixtures.py), from their committed weights.

    /usr/bin/python3 weights-tools/make_attention_fixtures.py [--fixtures test/fixtures]

For tiny/ and tiny-inv/ (scale_attn_by_inverse_layer_idx) reads config.json, model.safetensors and
expected.safetensors (input_ids [B, T]) and writes attentions.safetensors: attentions.<layer> [B, H, T, T]
(float32, computed in float64), HF's output_attentions: each layer's softmax weights after the causal mask
(0 above the diagonal). They are read off the model's attention-dropout module (the identity in eval mode),
whose input is exactly those weights. The existing fixture files are not touched.
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imagegpt_torch import ImageGPTConfig, ImageGPTForCausalImageModeling, load_hf_state_dict  # noqa: E402
from safetensors_py import load_file, save_file  # noqa: E402


def attentions(folder: str) -> None:
    config = ImageGPTConfig.from_json_file(os.path.join(folder, "config.json"))
    model = ImageGPTForCausalImageModeling(config).double().eval()
    load_hf_state_dict(model, load_file(os.path.join(folder, "model.safetensors")))
    ids = torch.as_tensor(load_file(os.path.join(folder, "expected.safetensors"))["input_ids"]).long()
    B, T = ids.shape
    H = config.n_head
    # One forward over all T tokens attends in a single query block (T ≤ 256): the weights come out [B*H, T, T].
    assert T <= 256, f"{folder}: {T} tokens would attend in several query blocks"
    captured: list = []
    hooks = [
        block.attn.attn_dropout.register_forward_hook(lambda _m, _inp, out: captured.append(out.detach().clone()))
        for block in model.transformer.h
    ]
    with torch.no_grad():
        model(ids)
    for h in hooks:
        h.remove()
    assert len(captured) == config.n_layer
    out = {}
    for layer, w in enumerate(captured):
        w = w.reshape(B, H, T, T)
        assert torch.all(w.triu(diagonal=1) == 0), "weights above the diagonal must be exactly 0"
        err = (w.sum(-1) - 1).abs().max().item()
        out[f"attentions.{layer}"] = w.float()
        print(f"{folder}: attentions.{layer} {tuple(w.shape)}, rows sum to 1 within {err:.2e}")
    save_file(out, os.path.join(folder, "attentions.safetensors"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", default=os.path.join(os.path.dirname(__file__), "..", "test", "fixtures"))
    args = parser.parse_args()
    for name in ("tiny", "tiny-inv"):
        attentions(os.path.join(args.fixtures, name))


if __name__ == "__main__":
    main()
