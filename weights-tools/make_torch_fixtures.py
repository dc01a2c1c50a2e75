"""Write the converter's fixtures: tiny ImageGPT checkpoints saved by the real `torch.save`.

    /usr/bin/python3 weights-tools/make_torch_fixtures.py [--out test/fixtures/torch]

Model: n_embd 16, 2 layers, 2 heads, n_positions 16, vocab 513 (random weights at a realistic scale).
Files written:
- config.json, preprocessor_config.json   an HF folder's JSON (4x4 images, 512 random clusters)
- tiny-f32.bin    model.state_dict() in f32 with HF's buffers (attn.bias uint8, attn.masked_bias)
- tiny-f16.bin    the same model after .half() (buffers: attn.bias bool, masked_bias f16)
- tiny-bf16.bin   after .to(torch.bfloat16)
- tiny-views.bin  f32, with tensors torch stores as views: wte and lm_head share one storage (lm_head
                  at a non-zero offset), one c_attn.weight is a transpose (strides (1, 16)), one
                  c_fc.weight is a column slice of a wider matrix (row stride 80, offset 8)
- NAME.expected.safetensors   every tensor of NAME.bin, contiguous, floats as F32 (exact for f16/bf16)
- tiny-deflated.bin   tiny-f16.bin re-zipped with DEFLATE (torch writes STORED entries, other zip tools may not)
- tiny-zip64.bin  tiny-f32.bin re-zipped with zip64 records throughout (Python's zipfile, its 4 GiB limit
                  lowered to 1000 bytes): the layout of checkpoints over 4 GiB (imagegpt-large), in 100 KB
- evil.bin        a torch.save zip whose pickle would call builtins.print on load: the reader must refuse it
- legacy.bin      torch's pre-1.6 format (a bare pickle stream), which the reader refuses with a clear error
                  (its bytes change on every run: that format names storages by memory address)
- logits.safetensors   input_ids [2, 16] and the float64 model's logits (cast to f32), computed from
                       exactly the f32 weights in tiny-f32.bin
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import zipfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imagegpt_torch import ImageGPTConfig, ImageGPTForCausalImageModeling  # noqa: E402
from make_model_fixtures import make_input_ids, randomize, weights_f32, write_config  # noqa: E402
from safetensors_py import save_file  # noqa: E402


def with_metadata(tensors, like):
    """An OrderedDict carrying nn.Module's `_metadata`, so the pickle looks like a real state_dict's."""
    out = collections.OrderedDict(tensors)
    out._metadata = like._metadata
    return out


def expected_of(state):
    """Contiguous copies; floats as f32 (every f16/bf16 value is exactly an f32)."""
    return {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in state.items()}


class CallsPrint:
    """Pickles as a call to builtins.print: what any code execution through a pickle looks like."""

    def __reduce__(self):
        return (print, ("this pickle ran code",))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "torch"))
    args = parser.parse_args()
    out = args.out
    os.makedirs(out, exist_ok=True)

    config = ImageGPTConfig(vocab_size=513, n_positions=16, n_embd=16, n_layer=2, n_head=2)
    model = ImageGPTForCausalImageModeling(config).double().eval()
    randomize(model, seed=5)
    ids = make_input_ids(seed=6, t=config.n_positions)
    with torch.no_grad():
        logits, _, _ = model(ids)
    write_config(os.path.join(out, "config.json"), config, classifier=False)

    g = torch.Generator().manual_seed(7)
    clusters = (torch.rand(512, 3, generator=g, dtype=torch.float64) * 2 - 1).tolist()
    preprocessor = {
        "clusters": [[round(c, 6) for c in row] for row in clusters],
        "do_color_quantize": True,
        "do_normalize": True,
        "do_resize": True,
        "image_processor_type": "ImageGPTImageProcessor",
        "resample": 2,
        "size": {"height": 4, "width": 4},
    }
    with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
        json.dump(preprocessor, f)
        f.write("\n")

    f32_model = ImageGPTForCausalImageModeling(config).eval()
    f32_model.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    like = f32_model.state_dict()
    f32 = with_metadata(weights_f32(f32_model, config), like)  # HF buffers interleaved, uint8 mask

    def cast(dtype):
        state = collections.OrderedDict()
        for k, v in f32.items():
            if k.endswith(".attn.bias"):
                state[k] = v.bool()  # newer HF saves the mask as bool
            else:
                state[k] = v.to(dtype)
        return with_metadata(state, like)

    views = collections.OrderedDict(f32)
    e = config.n_embd
    shared = torch.cat([f32["transformer.wte.weight"], f32["lm_head.weight"]])
    views["transformer.wte.weight"] = shared[:513]
    views["lm_head.weight"] = shared[513:]
    views["transformer.h.0.attn.c_attn.weight"] = f32["transformer.h.0.attn.c_attn.weight"].t().contiguous().t()
    wide = torch.zeros(e, 80)
    wide[:, 8:72] = f32["transformer.h.1.mlp.c_fc.weight"]
    views["transformer.h.1.mlp.c_fc.weight"] = wide[:, 8:72]
    assert not views["transformer.h.0.attn.c_attn.weight"].is_contiguous()
    assert not views["transformer.h.1.mlp.c_fc.weight"].is_contiguous()
    assert views["lm_head.weight"].storage_offset() == 513 * e
    views = with_metadata(views, like)

    for name, state in [("tiny-f32", f32), ("tiny-f16", cast(torch.float16)), ("tiny-bf16", cast(torch.bfloat16)),
                        ("tiny-views", views)]:
        torch.save(state, os.path.join(out, name + ".bin"))
        save_file(expected_of(state), os.path.join(out, name + ".expected.safetensors"))
    with zipfile.ZipFile(os.path.join(out, "tiny-f16.bin")) as src, \
            zipfile.ZipFile(os.path.join(out, "tiny-deflated.bin"), "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(zipfile.ZipInfo(info.filename, date_time=info.date_time), src.read(info.filename),
                         compress_type=zipfile.ZIP_DEFLATED)
    zip64_limit = zipfile.ZIP64_LIMIT
    zipfile.ZIP64_LIMIT = 1000  # sizes and offsets past it go to zip64 extra fields and a zip64 end record
    try:
        with zipfile.ZipFile(os.path.join(out, "tiny-f32.bin")) as src, \
                zipfile.ZipFile(os.path.join(out, "tiny-zip64.bin"), "w", compression=zipfile.ZIP_STORED) as dst:
            for info in src.infolist():
                dst.writestr(zipfile.ZipInfo(info.filename, date_time=info.date_time), src.read(info.filename))
    finally:
        zipfile.ZIP64_LIMIT = zip64_limit
    torch.save(collections.OrderedDict([("w", torch.ones(2)), ("x", CallsPrint())]), os.path.join(out, "evil.bin"))
    torch.save(collections.OrderedDict([("w", torch.ones(2))]), os.path.join(out, "legacy.bin"),
               _use_new_zipfile_serialization=False)
    save_file({"input_ids": ids.to(torch.int32), "logits": logits.float()}, os.path.join(out, "logits.safetensors"))

    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"{out}: {len(os.listdir(out))} files, {total / 1024:.0f} KiB; logits std {logits.std().item():.3f}")


if __name__ == "__main__":
    main()
