#!/usr/bin/env python3
"""Loads a gpumlp model into PyTorch and checks that torch's eval reproduces gpumlp's.

Builds the torch.nn.Sequential of the model's stack (its gpumlp.architecture metadata, or the MLP
of gpumlp.widths), one module per layer with the text each layer kind's spec gives as its
PyTorchModule (Conv2d, MaxPool2d, Flatten, Linear, ReLU, Dropout, BatchNorm1d/2d), loads the
model.safetensors into it with load_state_dict(strict=True), runs it in eval mode on the MNIST test
set (pixel / 255, NCHW for stacks with conv, pool2 or flatten, else the 784-pixel vector) and prints
its accuracy and mean cross-entropy beside `gpumlp eval --json` on the same model.

The safetensors file is read by hand with numpy (the format is an 8-byte header length, a JSON
header, then the tensors' little-endian bytes), so the `safetensors` package is not needed. bn's
num_batches_tracked is stored as a float32 scalar; load_state_dict copies it into torch's int64
buffer.

Usage:
    python3 bench/reference/torch_load_state_dict.py --model runs/bn --data data/mnist
    python3 bench/reference/torch_load_state_dict.py --model model.safetensors --no-gpumlp

Prints one JSON object on stdout (the modules, both evaluations and how many test images the two
predict differently); needs torch and numpy.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import struct
import subprocess
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_recipe import stack_modules  # noqa: E402

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path: str) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    metadata = header.pop("__metadata__", {})
    buffer = data[8 + length:]
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        values = np.frombuffer(buffer[begin:end], dtype=np.dtype(DTYPES[entry["dtype"]]).newbyteorder("<"))
        tensors[name] = values.reshape(entry["shape"]).copy()
    return tensors, metadata


def mlp_text(widths: str) -> str:
    hidden = widths.split("-")[1:-1]
    classes = widths.split("-")[-1]
    return ",".join([f"dense{w},relu,dropout0" for w in hidden] + [f"dense{classes}"])


def build(text: str, channels: int, height: int, width: int) -> tuple[nn.Sequential, bool]:
    """The Sequential of a stack (pytorch_recipe.stack_modules: one module per layer, so the
    state_dict names are gpumlp's); also whether the stack reads a map."""
    try:
        modules, takes_map, _ = stack_modules(text, channels, height, width)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    return nn.Sequential(*modules), takes_map


def read_idx(path: str) -> np.ndarray:
    with open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data[4 + 4 * dims:], dtype=np.uint8).reshape(shape)


def gpumlp_eval(command: str, model: str, data: str) -> dict:
    out = subprocess.run(shlex.split(command) + ["eval", "--model", model, "--data", data, "--device", "cpu", "--json"],
                         check=True, capture_output=True, text=True)
    test = json.loads(out.stdout)["test"]
    return {"accuracy": test["accuracy"], "loss": test["loss"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a run folder or a .safetensors file")
    parser.add_argument("--data", default="data/mnist", help="the MNIST folder (t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte)")
    parser.add_argument("--gpumlp", default="dotnet src/GpuMlp.Cli/bin/Release/net10.0/gpumlp.dll", help="how to run gpumlp")
    parser.add_argument("--no-gpumlp", action="store_true", help="only the torch evaluation")
    args = parser.parse_args()

    path = os.path.join(args.model, "model.safetensors") if os.path.isdir(args.model) else args.model
    tensors, metadata = read_safetensors(path)
    text = metadata.get("gpumlp.architecture") or mlp_text(metadata["gpumlp.widths"])
    c, h, w = (int(v) for v in metadata.get("gpumlp.input_shape", "1x28x28").split("x"))
    model, takes_map = build(text, c, h, w)
    state = {name: torch.from_numpy(values) for name, values in tensors.items()}
    model.load_state_dict(state, strict=True)
    model.eval()

    images = read_idx(os.path.join(args.data, "t10k-images-idx3-ubyte")).astype(np.float32) / 255.0
    labels = torch.from_numpy(read_idx(os.path.join(args.data, "t10k-labels-idx1-ubyte")).astype(np.int64))
    x = torch.from_numpy(images.reshape(len(images), c, h, w) if takes_map else images.reshape(len(images), -1))
    with torch.no_grad():
        logits = torch.cat([model(x[i:i + 500]) for i in range(0, len(x), 500)])
    predictions = logits.argmax(dim=1)
    result = {
        "model": path,
        "architecture": text,
        "modules": [str(m) for m in model],
        "load_state_dict": "strict=True, every key matched",
        "torch_eval": {
            "accuracy": int((predictions == labels).sum()) / len(labels),
            "loss": float(nn.functional.cross_entropy(logits, labels)),
        },
        "torch_version": torch.__version__,
    }
    if not args.no_gpumlp:
        result["gpumlp_eval"] = gpumlp_eval(args.gpumlp, path, args.data)
        result["accuracy_difference"] = result["torch_eval"]["accuracy"] - result["gpumlp_eval"]["accuracy"]
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
