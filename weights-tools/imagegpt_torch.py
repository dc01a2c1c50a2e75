"""A readable PyTorch ImageGPT, numerically the Hugging Face `transformers` port (see shared/REFERENCE.md).

Used to make the runtime's test fixtures and to train the shipped emoji models. The state_dict names
are exactly HF's (`transformer.wte.weight`, `transformer.h.0.attn.c_attn.weight`, ..., `lm_head.weight`),
so a checkpoint saved from here loads in `transformers` and in our TypeScript runtime alike.

Differences from HF that do not change the numbers:
- The causal-mask buffers (`attn.bias`, `attn.masked_bias`) are not module buffers here; the mask is
  built per call. `hf_mask_buffers()` makes them for writers that want HF-shaped checkpoints.
- HF's layer norm multiplies by `weight.data` (so its weight never gets a gradient); here it trains.
- `reorder_and_upcast_attn` only changes precision handling in half precision; it is accepted and
  ignored (f32/f64 math is the same).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

SOS = 512  # the start-of-sequence token: the last id of the 513-entry embedding, never predicted

# A cached (key, value) pair per layer, each [B, H, T_past, D].
LayerPast = Tuple[torch.Tensor, torch.Tensor]


@dataclass
class ImageGPTConfig:
    vocab_size: int = 513
    n_positions: int = 1024
    n_embd: int = 512
    n_layer: int = 24
    n_head: int = 8
    n_inner: Optional[int] = None  # None means 4 * n_embd
    activation_function: str = "quick_gelu"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    scale_attn_weights: bool = True
    scale_attn_by_inverse_layer_idx: bool = False
    reorder_and_upcast_attn: bool = False
    tie_word_embeddings: bool = False
    num_labels: Optional[int] = None
    id2label: Optional[Dict[str, str]] = None

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head != 0:
            raise ValueError(f"n_embd {self.n_embd} must be divisible by n_head {self.n_head}")
        if self.activation_function != "quick_gelu":
            raise ValueError(f"activation_function {self.activation_function!r}: only 'quick_gelu' is implemented")
        if self.tie_word_embeddings:
            raise ValueError("tie_word_embeddings true: ImageGPT's lm_head is untied (512 wide, wte is 513)")

    @property
    def inner_dim(self) -> int:
        return self.n_inner if self.n_inner is not None else 4 * self.n_embd

    def to_hf_dict(self, classifier: bool = False) -> dict:
        """The HF `config.json` fields, in HF's names."""
        d = asdict(self)
        for key in ("num_labels", "id2label"):
            d.pop(key)
        d.update(
            model_type="imagegpt",
            architectures=["ImageGPTForImageClassification" if classifier else "ImageGPTForCausalImageModeling"],
            bos_token_id=None,
            eos_token_id=None,
            torch_dtype="float32",
        )
        if classifier:
            labels = self.id2label or {str(i): f"LABEL_{i}" for i in range(self.num_labels or 0)}
            d["id2label"] = labels
            d["label2id"] = {name: int(i) for i, name in labels.items()}
        return d

    @classmethod
    def from_hf_dict(cls, d: dict) -> "ImageGPTConfig":
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in d.items() if k in known}
        if "id2label" in d and "num_labels" not in d:
            kwargs["num_labels"] = len(d["id2label"])
        return cls(**kwargs)

    @classmethod
    def from_json_file(cls, path: str) -> "ImageGPTConfig":
        with open(path) as f:
            return cls.from_hf_dict(json.load(f))


class ImageGPTLayerNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight: no mean-centering, no bias."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / torch.sqrt(torch.mean(x * x, dim=-1, keepdim=True) + self.eps) * self.weight


class Conv1D(nn.Module):
    """GPT-2's 'Conv1D': a linear layer whose weight is stored [in, out]."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).reshape(*x.shape[:-1], -1)


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)


class ImageGPTAttention(nn.Module):
    def __init__(self, config: ImageGPTConfig, layer_idx: int):
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.layer_idx = layer_idx
        self.config = config
        self.c_attn = Conv1D(config.n_embd, 3 * config.n_embd)
        self.c_proj = Conv1D(config.n_embd, config.n_embd)
        self.attn_dropout = nn.Dropout(config.attn_pdrop)
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.n_head, self.head_dim).permute(0, 2, 1, 3)  # [B, H, T, D]

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, first_pos: int) -> torch.Tensor:
        """softmax(scale * q k^T, causal) v for queries at absolute positions first_pos.., [BH, Tq, D]."""
        tq, tk = q.shape[1], k.shape[1]
        # Query i (position first_pos + i) sees keys 0 ..= first_pos + i; the rest get -inf, which softmax
        # turns into exact zeros, as HF's finfo.min does.
        causal = torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril(diagonal=first_pos)
        mask = torch.zeros(tq, tk, dtype=q.dtype, device=q.device).masked_fill(~causal, float("-inf"))
        w = torch.baddbmm(mask.expand(q.shape[0], tq, tk), q, k.transpose(1, 2), alpha=scale)  # mask + scale*qk^T
        w = self.attn_dropout(torch.softmax(w, dim=-1))
        return w @ v

    def forward(self, x: torch.Tensor, past: Optional[LayerPast] = None) -> Tuple[torch.Tensor, LayerPast]:
        b, t, e = x.shape
        q, k, v = self.c_attn(x).split(e, dim=2)
        q, k, v = self._split_heads(q), self._split_heads(k), self._split_heads(v)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        present = (k, v)

        scale = 1.0
        if self.config.scale_attn_weights:
            scale /= math.sqrt(self.head_dim)
        if self.config.scale_attn_by_inverse_layer_idx:
            scale /= float(self.layer_idx + 1)
        t_total = k.shape[2]
        bh = b * self.n_head
        q3 = q.reshape(bh, t, self.head_dim)
        k3 = k.reshape(bh, t_total, self.head_dim)
        v3 = v.reshape(bh, t_total, self.head_dim)
        # Causal attention in query blocks: block [s, e) only needs keys before its last query, which saves
        # about half of the T x T work on long sequences. Same result as one masked softmax over all keys:
        # masked entries are exactly zero either way.
        block = t if t <= 256 else 128
        outputs = []
        for s in range(0, t, block):
            e_q = min(t, s + block)
            k_end = t_total - t + e_q  # keys visible to the last query of the block
            outputs.append(self._attend(q3[:, s:e_q], k3[:, :k_end], v3[:, :k_end], scale, t_total - t + s))
        o = torch.cat(outputs, dim=1) if len(outputs) > 1 else outputs[0]
        o = o.view(b, self.n_head, t, self.head_dim)
        o = o.permute(0, 2, 1, 3).reshape(b, t, e)
        return self.resid_dropout(self.c_proj(o)), present


class ImageGPTMLP(nn.Module):
    def __init__(self, config: ImageGPTConfig):
        super().__init__()
        self.c_fc = Conv1D(config.n_embd, config.inner_dim)
        self.c_proj = Conv1D(config.inner_dim, config.n_embd)
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(quick_gelu(self.c_fc(x))))


class ImageGPTBlock(nn.Module):
    def __init__(self, config: ImageGPTConfig, layer_idx: int):
        super().__init__()
        self.ln_1 = ImageGPTLayerNorm(config.n_embd, config.layer_norm_epsilon)
        self.attn = ImageGPTAttention(config, layer_idx)
        self.ln_2 = ImageGPTLayerNorm(config.n_embd, config.layer_norm_epsilon)
        self.mlp = ImageGPTMLP(config)

    def forward(self, h: torch.Tensor, past: Optional[LayerPast] = None) -> Tuple[torch.Tensor, LayerPast]:
        a, present = self.attn(self.ln_1(h), past)
        h = h + a
        h = h + self.mlp(self.ln_2(h))
        return h, present


class ImageGPTModel(nn.Module):
    """The transformer trunk (`transformer.*` in checkpoints)."""

    def __init__(self, config: ImageGPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList([ImageGPTBlock(config, i) for i in range(config.n_layer)])
        self.ln_f = ImageGPTLayerNorm(config.n_embd, config.layer_norm_epsilon)

    def forward(
        self,
        input_ids: torch.Tensor,
        past: Optional[List[LayerPast]] = None,
        output_hidden_states: bool = False,
    ) -> Tuple[torch.Tensor, Optional[List[torch.Tensor]], List[LayerPast]]:
        """Returns (ln_f output [B, T, E], hidden states or None, the new cache).

        Hidden states follow HF: L+1 tensors, [0] the embedding output, [k] the raw output of block
        k-1 for k < L, and [L] = ln_f(last block's output) (the raw last block output is not exposed).
        """
        b, t = input_ids.shape
        if input_ids.min() < 0 or input_ids.max() >= self.config.vocab_size:
            raise ValueError(
                f"input ids range {int(input_ids.min())}..{int(input_ids.max())}; expected 0..{self.config.vocab_size - 1}"
            )
        past_len = 0 if past is None else past[0][0].shape[2]
        if past_len + t > self.config.n_positions:
            raise ValueError(f"sequence of {past_len + t} positions; the model has n_positions {self.config.n_positions}")
        positions = torch.arange(past_len, past_len + t, device=input_ids.device)
        h = self.drop(self.wte(input_ids) + self.wpe(positions)[None])

        hidden: List[torch.Tensor] = []
        presents: List[LayerPast] = []
        for i, block in enumerate(self.h):
            if output_hidden_states:
                hidden.append(h)
            h, present = block(h, None if past is None else past[i])
            presents.append(present)
        h = self.ln_f(h)
        if output_hidden_states:
            hidden.append(h)
        return h, (hidden if output_hidden_states else None), presents


def _init_weights(module: nn.Module, config: ImageGPTConfig) -> None:
    """GPT-2 / HF initialization: N(0, 0.02), zero biases, residual projections scaled by 1/sqrt(2L)."""
    std = config.initializer_range
    for name, p in module.named_parameters():
        if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
            nn.init.ones_(p)
        elif name.endswith(".bias"):
            nn.init.zeros_(p)
        elif name.endswith("c_proj.weight"):
            nn.init.normal_(p, 0.0, std / math.sqrt(2 * config.n_layer))
        else:
            nn.init.normal_(p, 0.0, std)


class ImageGPTForCausalImageModeling(nn.Module):
    def __init__(self, config: ImageGPTConfig):
        super().__init__()
        self.config = config
        self.transformer = ImageGPTModel(config)
        # 512 outputs: the SOS token (512) can never be predicted.
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size - 1, bias=False)
        _init_weights(self, config)

    def forward(
        self,
        input_ids: torch.Tensor,
        past: Optional[List[LayerPast]] = None,
        output_hidden_states: bool = False,
    ) -> Tuple[torch.Tensor, Optional[List[torch.Tensor]], List[LayerPast]]:
        """Returns (logits [B, T, 512], hidden states or None, the new cache)."""
        h, hidden, presents = self.transformer(input_ids, past, output_hidden_states)
        return self.lm_head(h), hidden, presents


class ImageGPTForImageClassification(nn.Module):
    def __init__(self, config: ImageGPTConfig):
        super().__init__()
        if not config.num_labels:
            raise ValueError("ImageGPTForImageClassification needs config.num_labels >= 1")
        self.config = config
        self.transformer = ImageGPTModel(config)
        self.score = nn.Linear(config.n_embd, config.num_labels, bias=False)
        _init_weights(self, config)

    def forward(
        self, input_ids: torch.Tensor, output_hidden_states: bool = False
    ) -> Tuple[torch.Tensor, Optional[List[torch.Tensor]]]:
        """Returns (classification logits [B, num_labels], hidden states or None)."""
        h, hidden, _ = self.transformer(input_ids, None, output_hidden_states)
        return self.score(h.mean(dim=1)), hidden


def hf_mask_buffers(config: ImageGPTConfig) -> Dict[str, torch.Tensor]:
    """The non-weight buffers HF checkpoints carry per layer (a causal mask and a scalar)."""
    n = config.n_positions
    mask = torch.tril(torch.ones(n, n, dtype=torch.uint8)).view(1, 1, n, n)
    out: Dict[str, torch.Tensor] = {}
    for i in range(config.n_layer):
        out[f"transformer.h.{i}.attn.bias"] = mask.clone()
        out[f"transformer.h.{i}.attn.masked_bias"] = torch.tensor(-1e4, dtype=torch.float32)
    return out


def is_mask_buffer(name: str) -> bool:
    return name.endswith(".attn.bias") or name.endswith(".attn.masked_bias")


def load_hf_state_dict(model: nn.Module, state: Dict[str, object]) -> None:
    """Load HF-named tensors (numpy or torch), skipping mask buffers; every weight must be present."""
    tensors = {k: torch.as_tensor(v) for k, v in state.items() if not is_mask_buffer(k)}
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise ValueError(f"checkpoint mismatch: missing {missing[:5]}, unexpected {unexpected[:5]}")
    for name, value in tensors.items():
        if tuple(value.shape) != tuple(own[name].shape):
            raise ValueError(f"{name}: shape {tuple(value.shape)}, expected {tuple(own[name].shape)}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in tensors.items()})


@torch.no_grad()
def generate(
    model: ImageGPTForCausalImageModeling,
    prefix: torch.Tensor,
    n_tokens: int,
    top_k: int = 40,
    temperature: float = 1.0,
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """Sample image tokens after `prefix` ([B, P] with SOS first) until there are `n_tokens` image tokens.

    HF's generate() semantics: logits / temperature, keep the top k, softmax, multinomial; KV cache on.
    Returns [B, n_tokens] image tokens (the SOS dropped).
    """
    model.eval()
    if prefix.shape[1] < 1 or bool((prefix[:, 0] != SOS).any()):
        raise ValueError("prefix must start with SOS (512)")
    tokens = prefix
    logits, _, past = model(prefix)
    while tokens.shape[1] < n_tokens + 1:
        next_logits = logits[:, -1, :].double()
        if temperature != 1.0:
            next_logits = next_logits / temperature
        if top_k and top_k < next_logits.shape[-1]:
            kth = torch.topk(next_logits, top_k, dim=-1).values[:, -1:]
            next_logits = next_logits.masked_fill(next_logits < kth, float("-inf"))
        probs = torch.softmax(next_logits, dim=-1)
        nxt = torch.multinomial(probs, 1, generator=generator)
        tokens = torch.cat([tokens, nxt], dim=1)
        if tokens.shape[1] < n_tokens + 1:
            logits, _, past = model(nxt, past)
    return tokens[:, 1:]
