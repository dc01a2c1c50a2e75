"""Write the attention-mask / position-ids fixture beside the tiny model fixture, from its committed weights.

    /usr/bin/python3 weights-tools/make_mask_fixtures.py [--fixtures test/fixtures]

Reads tiny/config.json and tiny/model.safetensors and writes tiny/masked.safetensors for a left-padded batch of
three rows of T = 24 (row 0: 24 real tokens; row 1: 8 padding then 16 real; row 2: every position masked):
  input_ids, attention_mask, position_ids [3, 24] (int32; position ids by HF generate's rule: cumsum(mask) - 1,
  masked positions set to 1), logits [3, 24, 512], attentions.<layer> [3, H, 24, 24] (the softmax weights after
  both masks), logits_default_positions [3, 24, 512] (the same mask with the forward's default positions 0..T-1),
  alone_logits [16, 512] (row 1's real tokens run alone, no mask).
The forward follows HF's ImageGPT (v4.36) step by step in float32, the dtype whose arithmetic defines the
masked rows: scores = q·kᵀ / sqrt(D) (and / (layer + 1) with scale_attn_by_inverse_layer_idx), then
where(causal, scores, finfo.min), then + (1 - mask) · finfo.min, then softmax. A fully masked query row therefore
stays finite: its past keys all score finfo.min, its unmasked future keys finfo.min too (causal + 0), its masked
future keys -inf (finfo.min + finfo.min), so it is uniform over the past keys and the unmasked future keys.
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imagegpt_torch import ImageGPTConfig, ImageGPTForCausalImageModeling, load_hf_state_dict  # noqa: E402
from safetensors_py import load_file, save_file  # noqa: E402


def hf_forward(model: ImageGPTForCausalImageModeling, ids: torch.Tensor, mask: torch.Tensor | None, positions: torch.Tensor | None):
    """HF ImageGPTForCausalImageModeling.forward(input_ids, attention_mask, position_ids, output_attentions=True)."""
    config = model.config
    tr = model.transformer
    B, T = ids.shape
    H = config.n_head
    D = config.n_embd // H
    if positions is None:
        positions = torch.arange(T)[None].expand(B, T)
    h = tr.wte(ids) + tr.wpe(positions)
    minimum = torch.tensor(torch.finfo(torch.float32).min, dtype=torch.float32)
    additive = None if mask is None else ((1.0 - mask.to(torch.float32)) * minimum)[:, None, None, :]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    weights = []
    for i, block in enumerate(tr.h):
        attn = block.attn
        x = block.ln_1(h)
        q, k, v = attn.c_attn(x).split(config.n_embd, dim=2)
        q, k, v = (t.view(B, T, H, D).permute(0, 2, 1, 3) for t in (q, k, v))
        w = torch.matmul(q, k.transpose(-1, -2))
        if config.scale_attn_weights:
            w = w / float(D) ** 0.5
        if config.scale_attn_by_inverse_layer_idx:
            w = w / float(i + 1)
        w = torch.where(causal, w, minimum)
        if additive is not None:
            w = w + additive
        w = torch.softmax(w, dim=-1)
        weights.append(w)
        o = torch.matmul(w, v).permute(0, 2, 1, 3).reshape(B, T, config.n_embd)
        h = h + attn.c_proj(o)
        h = h + block.mlp(block.ln_2(h))
    return model.lm_head(tr.ln_f(h)), weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", default=os.path.join(os.path.dirname(__file__), "..", "test", "fixtures"))
    args = parser.parse_args()
    folder = os.path.join(args.fixtures, "tiny")
    config = ImageGPTConfig.from_json_file(os.path.join(folder, "config.json"))
    model = ImageGPTForCausalImageModeling(config).float().eval()
    load_hf_state_dict(model, load_file(os.path.join(folder, "model.safetensors")))

    T, pad = 24, 8
    g = torch.Generator().manual_seed(11)
    ids = torch.randint(0, config.vocab_size - 1, (3, T), generator=g)
    ids[:, 0] = config.vocab_size - 1  # SOS first, as prompts start
    ids[1, pad] = config.vocab_size - 1
    ids[1, :pad] = 0  # padding ids: any valid token, masked out
    mask = torch.ones(3, T, dtype=torch.long)
    mask[1, :pad] = 0
    mask[2, :] = 0
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)

    with torch.no_grad():
        logits, attentions = hf_forward(model, ids, mask, positions)
        default_logits, _ = hf_forward(model, ids, mask, None)
        alone, _ = hf_forward(model, ids[1:2, pad:], None, None)
    assert torch.isfinite(logits).all() and torch.isfinite(default_logits).all()
    err = (logits[1, pad:] - alone[0]).abs().max().item()
    print(f"row 1 batched vs alone: max |diff| {err:.2e}")
    assert err < 1e-4
    out = {
        "input_ids": ids.to(torch.int32),
        "attention_mask": mask.to(torch.int32),
        "position_ids": positions.to(torch.int32),
        "logits": logits.float(),
        "logits_default_positions": default_logits.float(),
        "alone_logits": alone[0].float(),
    }
    for layer, w in enumerate(attentions):
        out[f"attentions.{layer}"] = w.float()
    save_file(out, os.path.join(folder, "masked.safetensors"))
    print(f"{folder}/masked.safetensors: {', '.join(f'{k} {tuple(v.shape)}' for k, v in out.items())}")


if __name__ == "__main__":
    main()
