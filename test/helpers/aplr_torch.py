"""PyTorch transcription of one APLR step's loss on the MLP encoder and generator (float64),
used by test/ssl-aplr.test.ts to cross-check wgrad's value and gradients.

Input (JSON file, argv[1]): x [N, D], eps, and the leaves of the encoder/predictor params and of
the generator params by path, each {shape, data}. Output (stdout, JSON): the loss, the Soft-HGR
diagnostic, and the gradient of the loss with respect to every leaf (encoder leaves: x~ constant;
generator leaves: encoder fixed; both are partial derivatives of the same graph).
"""
import json
import sys

import torch
import torch.nn.functional as F

d = json.load(open(sys.argv[1]))
leaf = {k: torch.tensor(v["data"], dtype=torch.float64).reshape(v["shape"]).requires_grad_() for k, v in d["params"].items()}
gen = {k: torch.tensor(v["data"], dtype=torch.float64).reshape(v["shape"]).requires_grad_() for k, v in d["generator"].items()}
x = torch.tensor(d["x"], dtype=torch.float64).reshape(d["xShape"])
eps = d["eps"]


def count(tree, prefix, suffix):
    """How many layers prefix[0]suffix, prefix[1]suffix, ... the tree holds."""
    i = 0
    while f"{prefix}[{i}]{suffix}" in tree:
        i += 1
    return i


def mlp(tree, prefix, h):
    n = count(tree, prefix, ".w")
    for i in range(n):
        h = h @ tree[f"{prefix}[{i}].w"] + tree[f"{prefix}[{i}].b"]
        if i < n - 1:
            h = torch.relu(h)
    return h


def encoder(h):
    for i in range(count(leaf, "encoder.dense", ".fc.w")):
        y = h @ leaf[f"encoder.dense[{i}].fc.w"]
        mu, var = y.mean(0), y.var(0, unbiased=False)
        y = (y - mu) / torch.sqrt(var + 1e-5) * leaf[f"encoder.dense[{i}].bn.scale"] + leaf[f"encoder.dense[{i}].bn.bias"]
        h = torch.relu(y)
    return h


def soft_hgr(f, g):
    f0, g0 = f - f.mean(0), g - g.mean(0)
    n = f.shape[0]
    corr = (f0 * g0).sum(1).mean()
    cf, cg = f0.T @ f0 / (n - 1), g0.T @ g0 / (n - 1)
    return corr - torch.trace(cf @ cg) / 2


n = x.shape[0]
delta = eps * torch.tanh(mlp(gen, "layers", x))
h = encoder(torch.cat([x, x + delta], 0))
fx, ft = h[:n], h[n:]
p = mlp(leaf, "projector.layers", ft)
target = fx.detach()
loss = ((F.normalize(p, dim=1) - F.normalize(target, dim=1)) ** 2).sum(1).mean()
hgr = soft_hgr(F.normalize(p, dim=1), F.normalize(target, dim=1))
names = list(leaf) + ["gen." + k for k in gen]
tensors = list(leaf.values()) + list(gen.values())
grads = torch.autograd.grad(loss, tensors, allow_unused=True)
out = {"loss": loss.item(), "softHgr": hgr.item(), "grads": {}}
for k, t, g in zip(names, tensors, grads):
    out["grads"][k] = (g if g is not None else torch.zeros_like(t)).reshape(-1).tolist()
print(json.dumps(out))
