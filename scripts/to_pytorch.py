#!/usr/bin/env python3
"""Load a trained wgrad encoder (and its projection head) from a safetensors checkpoint into the
equivalent PyTorch modules. The mapping of names and layouts is documented in docs/pytorch.md.

    python3 scripts/to_pytorch.py runs/simclr                   # prints the modules
    python3 scripts/to_pytorch.py runs/simclr --save enc.pt     # torch.save of the encoder module
    python3 scripts/to_pytorch.py runs/simclr --features x.f32 --shape 8,1,28,28 --out f.f32

As a library:  encoder, projector, config = load("runs/simclr/checkpoint.safetensors")

Needs only torch (Debian's python3-torch): the safetensors file is parsed here (an 8-byte little-endian
header length, a JSON header, then the raw little-endian tensors), so the `safetensors` package is
not required. Supported encoders: the small CNN ('cnn') and the MLP ('mlp'); a ResNet checkpoint
is refused with a message. The modules are returned in eval mode (BatchNorm on the running
statistics), which is how wgrad extracts features (ssl.evalFeatures).
"""
import argparse
import json
import os
import struct
import sys

import torch
from torch import nn

DTYPES = {"F32": torch.float32, "I32": torch.int32}


class CheckpointError(Exception):
    """A checkpoint this script cannot convert; the message says why and what to do."""


def read_safetensors(path):
    """(tensors by name, metadata dict) of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise CheckpointError(f"{path}: not a safetensors file (only {len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise CheckpointError(f"{path}: not a safetensors file (header of {n} bytes in a file of {len(data)})")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    body = memoryview(data)[8 + n:]
    tensors = {}
    for name, entry in header.items():
        if entry["dtype"] not in DTYPES:
            continue  # bool and uint32 tensors are never model weights
        start, end = entry["data_offsets"]
        flat = torch.frombuffer(bytearray(body[start:end]), dtype=DTYPES[entry["dtype"]])
        tensors[name] = flat.reshape(entry["shape"]).clone()
    return tensors, meta


class Flatten(nn.Module):
    """x [N, ...] → [N, D], row-major (wgrad's reshape)."""

    def forward(self, x):
        return x.reshape(x.shape[0], -1)


class CnnEncoder(nn.Module):
    """wgrad's small CNN encoder (src/ssl/model.ts): conv3×3 → BN → relu → maxpool 2, twice, then
    flatten → linear → BN → relu. Convolutions and the linear layer have no bias."""

    def __init__(self, in_channels, width, pooled, feature_dim):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.fc = nn.Linear(2 * width * pooled, feature_dim, bias=False)
        self.bn3 = nn.BatchNorm1d(feature_dim)

    def forward(self, x):
        h = nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 2)
        h = nn.functional.max_pool2d(torch.relu(self.bn2(self.conv2(h))), 2)
        return torch.relu(self.bn3(self.fc(h.reshape(x.shape[0], -1))))


def mlp_encoder(widths):
    """wgrad's MLP encoder: flatten, then linear (no bias) → BN → relu per width."""
    layers = [Flatten()]
    for fin, fout in zip(widths, widths[1:]):
        layers += [nn.Linear(fin, fout, bias=False), nn.BatchNorm1d(fout), nn.ReLU()]
    return nn.Sequential(*layers)


def projector_module(widths):
    """wgrad's projection head (nn.mlp): linear (with bias) and relu between layers."""
    layers = []
    for i, (fin, fout) in enumerate(zip(widths, widths[1:])):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(fin, fout))
    return nn.Sequential(*layers)


class Weights:
    """The checkpoint's tensors, taken by name; each name is used once, and a missing one is an error."""

    def __init__(self, tensors, path):
        self.tensors, self.path = tensors, path

    def take(self, name):
        if name not in self.tensors:
            raise CheckpointError(f"{self.path}: no tensor {name!r} (is this a checkpoint written by `wgrad train`?)")
        return self.tensors[name]

    def linear(self, layer, prefix):
        """wgrad's w is [in, out] (x @ w); torch.nn.Linear's weight is [out, in] (x @ W.T)."""
        layer.weight.data.copy_(self.take(prefix + ".w").t())
        if layer.bias is not None:
            layer.bias.data.copy_(self.take(prefix + ".b"))

    def conv(self, layer, prefix):
        """[O, C/groups, kh, kw] in both."""
        layer.weight.data.copy_(self.take(prefix + ".w"))

    def batch_norm(self, layer, params, state, branch):
        """scale/bias → weight/bias; running mean/var → running_mean/running_var (eps 1e-5 in both)."""
        suffix = "" if branch is None else "." + branch
        layer.weight.data.copy_(self.take(f"{params}{suffix}.scale"))
        layer.bias.data.copy_(self.take(f"{params}{suffix}.bias"))
        layer.running_mean.copy_(self.take(f"{state}{suffix}.mean"))
        layer.running_var.copy_(self.take(f"{state}{suffix}.var"))


def bn_branch(tensors, branch, path):
    """The BN branch to load: None for plain BN; with branches (IDAA's clean/adv), the one asked for."""
    first = ("state.model.bn1.", "state.model.dense[0].")  # state.model.<layer>.<branch>.mean with branches
    names = sorted({k.split(".")[3] for k in tensors if k.startswith(first) and k.count(".") == 4})
    if not names:
        if branch is not None:
            raise CheckpointError(f"{path}: --branch {branch}: this model has no BN branches")
        return None
    if branch not in names:
        raise CheckpointError(f"{path}: the model has BN branches {', '.join(names)}: pick one with --branch (got {branch})")
    return branch


def model_config(meta, path):
    tree = json.loads(meta.get("wgrad.tree", "{}"))
    config = tree.get("modelConfig")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: no model configuration in the metadata (is this a checkpoint written by `wgrad train`?)")
    return config


def build_encoder(w, config, branch):
    kind = config.get("encoder", "cnn")
    if "params.encoder.stem.w" in w.tensors or kind == "resnet":
        raise CheckpointError(f"{w.path}: ResNet encoders are not converted by this script (the small CNN and MLP encoders are); see docs/pytorch.md")
    if kind == "mlp":
        dense = sorted({int(k.split("[")[1].split("]")[0]) for k in w.tensors if k.startswith("params.encoder.dense[")})
        widths = [w.take(f"params.encoder.dense[{i}].fc.w").shape[0] for i in dense] + [w.take(f"params.encoder.dense[{dense[-1]}].fc.w").shape[1]]
        enc = mlp_encoder(widths)
        for i in dense:
            w.linear(enc[1 + 3 * i], f"params.encoder.dense[{i}].fc")
            w.batch_norm(enc[2 + 3 * i], f"params.encoder.dense[{i}].bn", f"state.model.dense[{i}]", branch)
        return enc
    conv1 = w.take("params.encoder.conv1.w")
    fc = w.take("params.encoder.fc.w")
    width, in_channels = conv1.shape[0], conv1.shape[1]
    enc = CnnEncoder(in_channels, width, fc.shape[0] // (2 * width), fc.shape[1])
    w.conv(enc.conv1, "params.encoder.conv1")
    w.conv(enc.conv2, "params.encoder.conv2")
    w.linear(enc.fc, "params.encoder.fc")
    for i, layer in enumerate([enc.bn1, enc.bn2, enc.bn3], start=1):
        w.batch_norm(layer, f"params.encoder.bn{i}", f"state.model.bn{i}", branch)
    return enc


def build_projector(w):
    n = len({k for k in w.tensors if k.startswith("params.projector.layers[") and k.endswith("].w")})
    shapes = [w.take(f"params.projector.layers[{i}].w").shape for i in range(n)]
    proj = projector_module([shapes[0][0]] + [s[1] for s in shapes])
    for i in range(n):
        w.linear(proj[2 * i], f"params.projector.layers[{i}]")
    return proj


def load(path, branch=None):
    """(encoder, projector, model config) of a checkpoint file or run directory, in eval mode."""
    if os.path.isdir(path):
        path = os.path.join(path, "checkpoint.safetensors")
    tensors, meta = read_safetensors(path)
    config = model_config(meta, path)
    w = Weights(tensors, path)
    branch = bn_branch(tensors, branch, path)
    encoder, projector = build_encoder(w, config, branch), build_projector(w)
    return encoder.eval(), projector.eval(), config


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", help="a checkpoint.safetensors written by `wgrad train`, or its run directory")
    ap.add_argument("--branch", help="the BN branch of a model trained with branches (IDAA: clean or adv)")
    ap.add_argument("--save", help="torch.save the encoder module to this file")
    ap.add_argument("--features", help="raw little-endian float32 inputs to extract features from (needs --shape, --out)")
    ap.add_argument("--shape", help="the inputs' shape, e.g. 8,1,28,28")
    ap.add_argument("--out", help="where to write the features (raw little-endian float32, [N, featureDim])")
    args = ap.parse_args(argv)
    try:
        encoder, projector, config = load(args.checkpoint, args.branch)
    except (CheckpointError, OSError, ValueError) as e:
        print(f"to_pytorch: {e}", file=sys.stderr)
        return 2
    if args.features:
        if not args.shape or not args.out:
            ap.error("--features needs --shape and --out")
        shape = [int(s) for s in args.shape.split(",")]
        x = torch.frombuffer(bytearray(open(args.features, "rb").read()), dtype=torch.float32)
        if x.numel() != torch.Size(shape).numel():
            ap.error(f"--features holds {x.numel()} float32 values, --shape {args.shape} needs {torch.Size(shape).numel()}")
        with torch.no_grad():
            feats = encoder(x.reshape(shape))
        with open(args.out, "wb") as f:
            f.write(feats.contiguous().numpy().astype("<f4").tobytes())
    if args.save:
        torch.save(encoder, args.save)
    if not args.features and not args.save:
        print(f"model config: {json.dumps(config)}\nencoder:\n{encoder}\nprojector:\n{projector}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
