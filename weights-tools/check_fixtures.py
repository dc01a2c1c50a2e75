"""Cross-check the PyTorch reference and the committed fixtures against an independent numpy forward.

    /usr/bin/python3 weights-tools/check_fixtures.py [test/fixtures]

The numpy forward below is written straight from shared/REFERENCE.md, separately from imagegpt_torch.py,
so a mistake would have to be made twice to pass. Also checks that incremental decoding with the KV cache
gives the same logits as one full pass. Exits non-zero on any mismatch.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imagegpt_torch import ImageGPTConfig, ImageGPTForCausalImageModeling, load_hf_state_dict  # noqa: E402
from safetensors_py import load_file  # noqa: E402


def numpy_forward(w: dict, cfg: dict, ids: np.ndarray):
    e, n_head, n_layer = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
    eps = cfg["layer_norm_epsilon"]
    d = e // n_head
    w = {k: v.astype(np.float64) for k, v in w.items()}

    def ln(x, weight):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * weight

    b, t = ids.shape
    h = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][np.arange(t)][None]
    hidden = []
    for i in range(n_layer):
        hidden.append(h)
        p = f"transformer.h.{i}."
        a = ln(h, w[p + "ln_1.weight"])
        qkv = a @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
        q, k, v = (qkv[..., j * e:(j + 1) * e].reshape(b, t, n_head, d).transpose(0, 2, 1, 3) for j in range(3))
        s = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d)
        if cfg["scale_attn_by_inverse_layer_idx"]:
            s = s / (i + 1)
        s = np.where(np.tril(np.ones((t, t), bool)), s, -np.inf)
        s = np.exp(s - s.max(-1, keepdims=True))
        s = s / s.sum(-1, keepdims=True)
        o = (s @ v).transpose(0, 2, 1, 3).reshape(b, t, e)
        h = h + o @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        f = ln(h, w[p + "ln_2.weight"]) @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"]
        f = f / (1 + np.exp(-1.702 * f))
        h = h + f @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    h = ln(h, w["transformer.ln_f.weight"])
    hidden.append(h)
    return h, hidden


def check(name: str, got: np.ndarray, want: np.ndarray, tol: float) -> bool:
    err = float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max())
    ok = got.shape == want.shape and err <= tol
    print(f"  {'ok ' if ok else 'BAD'} {name}: shape {got.shape}, max abs error {err:.2e}")
    return ok


def log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def check_causal_loss(path: str, logits: np.ndarray) -> bool:
    """loss.safetensors (make_loss_fixtures.py): HF's shifted cross-entropy, -100 ignored, from the numpy logits."""
    loss_path = os.path.join(path, "loss.safetensors")
    if not os.path.exists(loss_path):
        return True
    exp = load_file(loss_path)
    ok = True
    for suffix, labels in (("", exp["labels"].astype(np.int64)), ("_all", None)):
        if labels is None:
            labels = load_file(os.path.join(path, "expected.safetensors"))["input_ids"].astype(np.int64)
        target = labels[:, 1:]
        keep = target != -100
        lp = log_softmax(logits[:, :-1])
        token = np.where(keep, -np.take_along_axis(lp, np.where(keep, target, 0)[..., None], -1)[..., 0], 0.0)
        ok &= check("token_loss" + suffix, exp["token_loss" + suffix], token, 1e-5)
        ok &= check("loss" + suffix, exp["loss" + suffix], np.array([token[keep].mean()]), 1e-5)
    return ok


def check_classifier_loss(path: str, logits: np.ndarray, score: np.ndarray, pooled: np.ndarray) -> bool:
    """loss.safetensors: cross-entropy, BCE with logits and MSE, written out from their definitions."""
    loss_path = os.path.join(path, "loss.safetensors")
    if not os.path.exists(loss_path):
        return True
    exp = load_file(loss_path)
    single = exp["single_labels"].astype(np.int64)
    y = exp["multi_labels"].astype(np.float64)
    p = 1 / (1 + np.exp(-logits))
    ok = check("single_loss", exp["single_loss"], np.array([-log_softmax(logits)[np.arange(len(single)), single].mean()]), 1e-5)
    ok &= check("multi_loss", exp["multi_loss"], np.array([-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()]), 1e-5)
    r = exp["regression_labels"].astype(np.float64)
    ok &= check("regression_loss", exp["regression_loss"], np.array([((logits - r) ** 2).mean()]), 1e-5)
    r1 = exp["regression1_labels"].astype(np.float64)
    ok &= check("regression1_loss", exp["regression1_loss"], np.array([((pooled @ score[0] - r1) ** 2).mean()]), 1e-5)
    return ok


def main() -> int:
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "test", "fixtures")
    ok = True
    for folder in ("tiny", "tiny-inv", "classifier"):
        path = os.path.join(root, folder)
        print(folder)
        with open(os.path.join(path, "config.json")) as f:
            cfg = json.load(f)
        w = load_file(os.path.join(path, "model.safetensors"))
        exp = load_file(os.path.join(path, "expected.safetensors"))
        ids = exp["input_ids"].astype(np.int64)
        h, hidden = numpy_forward(w, cfg, ids)
        for i, hs in enumerate(hidden):
            ok &= check(f"hidden_states.{i}", exp[f"hidden_states.{i}"], hs, 1e-5)
        if "score.weight" in w:
            cls_logits = h.mean(1) @ w["score.weight"].astype(np.float64).T
            ok &= check("classification logits", exp["logits"], cls_logits, 1e-5)
            ok &= check_classifier_loss(path, cls_logits, w["score.weight"].astype(np.float64), h.mean(1))
            continue
        logits = h @ w["lm_head.weight"].astype(np.float64).T
        ok &= check("logits", exp["logits"], logits, 1e-5)
        ok &= check_causal_loss(path, logits)

        # KV cache: token-by-token decoding must equal the full pass.
        model = ImageGPTForCausalImageModeling(ImageGPTConfig.from_hf_dict(cfg)).double().eval()
        load_hf_state_dict(model, w)
        with torch.no_grad():
            ids_t = torch.from_numpy(ids)
            steps, past = [], None
            for j in range(ids.shape[1]):
                out, _, past = model(ids_t[:, j:j + 1], past)
                steps.append(out)
        ok &= check("cached decoding vs full pass", torch.cat(steps, 1).numpy(), logits, 1e-9)
    print("all ok" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
