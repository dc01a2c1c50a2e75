"""Write the loss fixtures beside the model fixtures (make_model_fixtures.py), from their committed weights.

    /usr/bin/python3 weights-tools/make_loss_fixtures.py [--fixtures test/fixtures]

Reads each folder's config.json, model.safetensors and expected.safetensors (input_ids) and writes loss.safetensors,
computed in float64 with HF's loss rules (stored as f32):
- tiny/loss.safetensors: labels [2, 64] (int32; the input ids with some entries -100), loss (scalar, mean
  cross-entropy of logits[:, :-1] against labels[:, 1:] over the non-ignored), token_loss [2, 63] (nats,
  -log p(labels[t+1] | ids[..t]); 0 where ignored), and the same without ignored labels: loss_all, token_loss_all.
- classifier/loss.safetensors: the classifier's three problem types on its 2 inputs:
  single_labels [2] int32 and single_loss (cross-entropy), multi_labels [2, 5] 0/1 float and multi_loss
  (BCE with logits), regression_labels [2, 5] and regression_loss (MSE over every entry, problem_type
  "regression"), regression1_labels [2] and regression1_loss (MSE of a 1-label head: score's first row).
The existing expected.safetensors files are not touched.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imagegpt_torch import (  # noqa: E402
    ImageGPTConfig,
    ImageGPTForCausalImageModeling,
    ImageGPTForImageClassification,
    load_hf_state_dict,
)
from safetensors_py import load_file, save_file  # noqa: E402

IGNORE = -100


def load(folder: str, model_class):
    config = ImageGPTConfig.from_json_file(os.path.join(folder, "config.json"))
    model = model_class(config).double().eval()
    load_hf_state_dict(model, load_file(os.path.join(folder, "model.safetensors")))
    ids = torch.as_tensor(load_file(os.path.join(folder, "expected.safetensors"))["input_ids"]).long()
    return model, ids


def causal(folder: str) -> None:
    model, ids = load(folder, ImageGPTForCausalImageModeling)
    with torch.no_grad():
        logits = model(ids)[0]
    labels = ids.clone()
    # Ignored targets at the start, in the middle, at the end, and one at position 0 (never a target anyway).
    labels[0, 0] = IGNORE
    labels[0, 5] = IGNORE
    labels[0, 17:21] = IGNORE
    labels[1, -1] = IGNORE
    labels[1, 1] = IGNORE
    shift_logits = logits[:, :-1, :]
    out = {"labels": labels.to(torch.int32)}
    for suffix, lab in (("", labels), ("_all", ids)):
        shift_labels = lab[:, 1:]
        # HF: CrossEntropyLoss() over the flattened positions, ignore_index -100, mean over the rest.
        loss = F.cross_entropy(shift_logits.reshape(-1, shift_logits.shape[-1]), shift_labels.reshape(-1), ignore_index=IGNORE)
        token = F.cross_entropy(shift_logits.transpose(1, 2), shift_labels, ignore_index=IGNORE, reduction="none")
        out["loss" + suffix] = loss.reshape(1).float()
        out["token_loss" + suffix] = token.float()
        print(f"{folder}: loss{suffix} {loss.item():.6f} (nats), {loss.item() / np.log(2):.4f} bits per token")
    save_file(out, os.path.join(folder, "loss.safetensors"))


def classifier(folder: str) -> None:
    model, ids = load(folder, ImageGPTForImageClassification)
    with torch.no_grad():
        logits = model(ids)[0]
    B, C = logits.shape
    g = torch.Generator().manual_seed(11)
    single = torch.tensor([3, 0])
    multi = (torch.rand((B, C), generator=g) > 0.5).double()
    regression = torch.randn((B, C), generator=g, dtype=torch.float64)
    regression1 = torch.randn((B,), generator=g, dtype=torch.float64)
    out = {
        "single_labels": single.to(torch.int32),
        "single_loss": F.cross_entropy(logits, single).reshape(1).float(),
        "multi_labels": multi.float(),
        "multi_loss": F.binary_cross_entropy_with_logits(logits, multi).reshape(1).float(),
        "regression_labels": regression.float(),
        "regression_loss": F.mse_loss(logits, regression.float().double()).reshape(1).float(),
        "regression1_labels": regression1.float(),
        # HF with num_labels 1: MSELoss()(logits.squeeze(), labels.squeeze()).
        "regression1_loss": F.mse_loss(logits[:, 0], regression1.float().double()).reshape(1).float(),
    }
    for k, v in out.items():
        if k.endswith("_loss"):
            print(f"{folder}: {k} {v.item():.6f}")
    save_file(out, os.path.join(folder, "loss.safetensors"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", default=os.path.join(os.path.dirname(__file__), "..", "test", "fixtures"))
    args = parser.parse_args()
    causal(os.path.join(args.fixtures, "tiny"))
    classifier(os.path.join(args.fixtures, "classifier"))


if __name__ == "__main__":
    main()
