"""Write the loader's hub fixtures: one tiny model in every checkpoint layout the Hugging Face hub publishes.

    /usr/bin/python3 weights-tools/make_hub_fixtures.py [--out test/fixtures/hub]

Run it after make_torch_fixtures.py and make_model_fixtures.py: it reads their output, so every layout holds
exactly the same weights and must give the same logits.

Causal model: the f32 state dict of test/fixtures/torch/tiny-f32.bin (n_embd 16, 2 layers, n_positions 16);
expected logits are test/fixtures/torch/logits.safetensors (checked here by running the float64 model again).
Folders written (one per repo; each also has that model's config.json and the 4x4 preprocessor_config.json):
- safetensors/          model.safetensors, with HF's attn.bias / attn.masked_bias buffers and {"format": "pt"}
- safetensors-sharded/  model-0000K-of-00003.safetensors + model.safetensors.index.json, without the buffers
                        (newer transformers does not save them); shards cut the way transformers does
                        (tensors in state-dict order, a new shard when the next tensor would pass the size limit),
                        with a limit small enough that a layer's tensors fall into two shards
- bin/                  pytorch_model.bin = torch.save(state_dict) including the buffers, as the openai repos have
- bin-sharded/          pytorch_model-0000K-of-00002.bin + pytorch_model.bin.index.json, with the buffers
- classifier-bin/       test/fixtures/classifier/model.safetensors (ImageGPTForImageClassification, score.weight)
                        as pytorch_model.bin; expected logits in test/fixtures/classifier/expected.safetensors
Index files are transformers': {"metadata": {"total_size": tensor bytes}, "weight_map": {tensor: shard}},
written with indent=2 and sorted keys.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import sys
from typing import Dict, List

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from imagegpt_torch import (  # noqa: E402
    ImageGPTConfig,
    ImageGPTForCausalImageModeling,
    is_mask_buffer,
    load_hf_state_dict,
)
from safetensors_py import load_file, save_file  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "test", "fixtures")


def nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def shard(state: Dict[str, torch.Tensor], max_bytes: int) -> List[Dict[str, torch.Tensor]]:
    """transformers' split: fill a shard in order; a tensor that would pass max_bytes starts the next one."""
    shards: List[Dict[str, torch.Tensor]] = [collections.OrderedDict()]
    size = 0
    for name, t in state.items():
        if size + nbytes(t) > max_bytes and shards[-1]:
            shards.append(collections.OrderedDict())
            size = 0
        shards[-1][name] = t
        size += nbytes(t)
    return shards


def write_sharded(out: str, state: Dict[str, torch.Tensor], max_bytes: int, count: int, stem: str, ext: str) -> None:
    """Shards named as transformers names them (`{stem}-0000K-of-0000N.{ext}`) and their index file."""
    shards = shard(state, max_bytes)
    assert len(shards) == count, f"{stem}: {len(shards)} shards, expected {count}"
    # The point of sharding in a fixture: some layer must be read from two files.
    layers = [{n.split(".")[2] for n in s if n.startswith("transformer.h.")} for s in shards]
    assert any(layers[i] & layers[i + 1] for i in range(count - 1)), f"{stem}: no layer spans two shards"
    weight_map = {}
    for i, tensors in enumerate(shards):
        name = f"{stem}-{i + 1:05d}-of-{count:05d}.{ext}"
        path = os.path.join(out, name)
        if ext == "safetensors":
            save_file(tensors, path, {"format": "pt"})
        else:
            torch.save(collections.OrderedDict(tensors), path)
        weight_map.update({k: name for k in tensors})
    index = {"metadata": {"total_size": sum(nbytes(t) for t in state.values())}, "weight_map": weight_map}
    with open(os.path.join(out, f"{stem}.{ext}.index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
        f.write("\n")


def start_repo(out: str, name: str, config_from: str) -> str:
    folder = os.path.join(out, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    shutil.copy(os.path.join(config_from, "config.json"), folder)
    shutil.copy(os.path.join(FIXTURES, "torch", "preprocessor_config.json"), folder)
    return folder


def check_logits(state: Dict[str, torch.Tensor]) -> None:
    """The state dict read back must reproduce the committed expected logits (same weights, same model)."""
    torch_dir = os.path.join(FIXTURES, "torch")
    with open(os.path.join(torch_dir, "config.json")) as f:
        config = ImageGPTConfig.from_hf_dict(json.load(f))
    model = ImageGPTForCausalImageModeling(config).double().eval()
    load_hf_state_dict(model, {k: v.double() for k, v in state.items() if not is_mask_buffer(k)})
    expected = load_file(os.path.join(torch_dir, "logits.safetensors"))
    with torch.no_grad():
        logits = model(torch.from_numpy(expected["input_ids"]).long())[0].float()
    assert torch.allclose(logits, torch.from_numpy(expected["logits"]), atol=1e-5), "logits differ from torch/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(FIXTURES, "hub"))
    args = parser.parse_args()
    out = args.out
    os.makedirs(out, exist_ok=True)
    torch_dir = os.path.join(FIXTURES, "torch")

    state = torch.load(os.path.join(torch_dir, "tiny-f32.bin"))  # OrderedDict, buffers interleaved per layer
    assert any(is_mask_buffer(k) for k in state), "tiny-f32.bin should carry HF's mask buffers"
    check_logits(state)
    weights = collections.OrderedDict((k, v) for k, v in state.items() if not is_mask_buffer(k))

    folder = start_repo(out, "safetensors", torch_dir)
    save_file(state, os.path.join(folder, "model.safetensors"), {"format": "pt"})

    folder = start_repo(out, "safetensors-sharded", torch_dir)
    total = sum(nbytes(t) for t in weights.values())
    write_sharded(folder, weights, max_bytes=total // 3 + 4096, count=3, stem="model", ext="safetensors")

    folder = start_repo(out, "bin", torch_dir)
    torch.save(state, os.path.join(folder, "pytorch_model.bin"))

    folder = start_repo(out, "bin-sharded", torch_dir)
    total = sum(nbytes(t) for t in state.values())
    write_sharded(folder, state, max_bytes=total // 2 + 4096, count=2, stem="pytorch_model", ext="bin")

    classifier_dir = os.path.join(FIXTURES, "classifier")
    folder = start_repo(out, "classifier-bin", classifier_dir)
    classifier = collections.OrderedDict((k, torch.from_numpy(v)) for k, v in load_file(
        os.path.join(classifier_dir, "model.safetensors")).items())
    assert "score.weight" in classifier and any(is_mask_buffer(k) for k in classifier)
    torch.save(classifier, os.path.join(folder, "pytorch_model.bin"))

    size = 0
    for repo in sorted(os.listdir(out)):
        files = sorted(os.listdir(os.path.join(out, repo)))
        size += sum(os.path.getsize(os.path.join(out, repo, f)) for f in files)
        print(f"{repo}/: {', '.join(files)}")
    print(f"{out}: {size / 1024:.0f} KiB in all")


if __name__ == "__main__":
    main()
