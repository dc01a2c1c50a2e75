"""Write the training fixtures: three AdamW steps of the tiny models, computed by torch in float64.

    /usr/bin/python3 weights-tools/make_train_fixtures.py [--fixtures test/fixtures]

Reads tiny/ (causal) and classifier/ from the fixtures folder (made by make_model_fixtures.py) and writes
train/causal.safetensors and train/classifier.safetensors, each holding
- input_ids [B, T] (SOS first), labels ([B, T] with some -100, or [B] class ids),
- loss [steps] and grad_norm [steps] (the total norm before clipping),
- lr [steps] (one learning rate per step: the trainer's "lr as a function of the step"),
- step<k>.<tensor name> for k = 1..steps: every trained weight after step k (f32),
and the hyperparameters as JSON in the file's metadata ("hyper").

What a step is (the semantics the runtime's trainer must match; see the project's training docs):
- Hugging Face's ImageGPT multiplies by the norm's `weight.data`, so a norm gain never gets a gradient there: it is
  neither clipped nor updated (AdamW skips a parameter without a gradient, weight decay included). The reference
  below freezes the gains (requires_grad False) to match.
- Causal loss: logits[:, :-1] against labels[:, 1:], mean cross-entropy over labels that are not -100.
  Classifier: mean over T of the last hidden state, `score`, cross-entropy over the class ids.
- clip_grad_norm_(max_norm): every gradient times max_norm / (total + 1e-6) when total > max_norm.
- AdamW (torch's, decoupled decay), HF Trainer's grouping: no decay for biases and norm gains.
The steps run in float64 from the f32 weights (as the forward fixtures do); the weights are stored cast to f32.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imagegpt_torch import (  # noqa: E402
    SOS,
    ImageGPTConfig,
    ImageGPTForCausalImageModeling,
    ImageGPTForImageClassification,
    load_hf_state_dict,
)
from safetensors_py import load_file, save_file  # noqa: E402

STEPS = 3
BATCH = 4
LRS = [1e-3, 2e-3, 5e-4]  # differs per step: the trainer takes a learning rate per step
BETAS = (0.9, 0.95)
EPS = 1e-8
WEIGHT_DECAY = 0.1
# Below the first step's total gradient norm (printed when run), so clipping is active on every step.
MAX_GRAD_NORM = {"causal": 1.0, "classifier": 1.0}


def no_decay(name: str) -> bool:
    """HF Trainer's grouping: biases and norm gains get no weight decay."""
    return ".bias" in name or "ln_" in name


def frozen(name: str) -> bool:
    """Norm gains: HF multiplies by weight.data, so they never get a gradient."""
    return "ln_" in name


def load_model(folder: str, cls):
    config = ImageGPTConfig.from_json_file(os.path.join(folder, "config.json"))
    model = cls(config).double()
    load_hf_state_dict(model, {k: v for k, v in load_file(os.path.join(folder, "model.safetensors")).items()})
    model.train()  # the tiny configs have every pdrop 0: train mode changes nothing else
    for name, p in model.named_parameters():
        p.requires_grad_(not frozen(name))
    return model, config


def optimizer(model: torch.nn.Module) -> torch.optim.AdamW:
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in named if not no_decay(n)], "weight_decay": WEIGHT_DECAY},
        {"params": [p for n, p in named if no_decay(n)], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=LRS[0], betas=BETAS, eps=EPS)


def run(model, loss_of, max_norm: float) -> Dict[str, np.ndarray]:
    opt = optimizer(model)
    out: Dict[str, np.ndarray] = {}
    losses: List[float] = []
    norms: List[float] = []
    for k in range(STEPS):
        for g in opt.param_groups:
            g["lr"] = LRS[k]
        opt.zero_grad(set_to_none=True)
        loss = loss_of(model)
        loss.backward()
        total = torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], max_norm)
        opt.step()
        losses.append(loss.item())
        norms.append(float(total))
        print(f"  step {k + 1}: loss {loss.item():.6f}, grad norm {float(total):.4f} (clip at {max_norm})")
        if float(total) <= max_norm:
            raise SystemExit(f"clipping is not active at step {k + 1}: lower MAX_GRAD_NORM")
        for name, p in model.state_dict().items():
            out[f"step{k + 1}.{name}"] = p.detach().to(torch.float32).numpy()
    out["loss"] = np.array(losses, dtype=np.float64)
    out["grad_norm"] = np.array(norms, dtype=np.float64)
    out["lr"] = np.array(LRS, dtype=np.float64)
    return out


def hyper(max_norm: float, T: int) -> str:
    return json.dumps({
        "steps": STEPS, "batchSize": BATCH, "seqLength": T, "lr": LRS, "betas": list(BETAS), "eps": EPS,
        "weightDecay": WEIGHT_DECAY, "maxGradNorm": max_norm, "normGainsTrained": False,
    })


def causal(fixtures: str, rng: np.random.Generator) -> None:
    model, config = load_model(os.path.join(fixtures, "tiny"), ImageGPTForCausalImageModeling)
    T = config.n_positions
    ids = rng.integers(0, SOS, size=(BATCH, T)).astype(np.int64)
    ids[:, 0] = SOS
    labels = ids.copy()
    labels[1, 10:20] = -100  # ignored targets inside a row
    labels[3, T - 5:] = -100  # and at its end
    ids_t, labels_t = torch.from_numpy(ids), torch.from_numpy(labels)

    def loss_of(m):
        logits, _, _ = m(ids_t)
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels_t[:, 1:].reshape(-1), ignore_index=-100)

    print("causal (tiny):")
    out = run(model, loss_of, MAX_GRAD_NORM["causal"])
    out["input_ids"] = ids.astype(np.int32)
    out["labels"] = labels.astype(np.int32)
    save_file(out, os.path.join(fixtures, "train", "causal.safetensors"), {"hyper": hyper(MAX_GRAD_NORM["causal"], T)})


def classifier(fixtures: str, rng: np.random.Generator) -> None:
    model, config = load_model(os.path.join(fixtures, "classifier"), ImageGPTForImageClassification)
    T = config.n_positions
    ids = rng.integers(0, SOS, size=(BATCH, T)).astype(np.int64)
    ids[:, 0] = SOS
    labels = rng.integers(0, config.num_labels, size=(BATCH,)).astype(np.int64)
    ids_t, labels_t = torch.from_numpy(ids), torch.from_numpy(labels)

    def loss_of(m):
        logits, _ = m(ids_t)
        return F.cross_entropy(logits, labels_t)

    print("classifier:")
    out = run(model, loss_of, MAX_GRAD_NORM["classifier"])
    out["input_ids"] = ids.astype(np.int32)
    out["labels"] = labels.astype(np.int32)
    save_file(out, os.path.join(fixtures, "train", "classifier.safetensors"), {"hyper": hyper(MAX_GRAD_NORM["classifier"], T)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fixtures", default=os.path.join(os.path.dirname(__file__), "..", "test", "fixtures"))
    args = ap.parse_args()
    torch.manual_seed(0)
    rng = np.random.default_rng(20)
    os.makedirs(os.path.join(args.fixtures, "train"), exist_ok=True)
    causal(args.fixtures, rng)
    classifier(args.fixtures, rng)


if __name__ == "__main__":
    main()
