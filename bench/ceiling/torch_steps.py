"""CPU ceiling for the training steps: the same models and SGD steps as bench/suite/train.ts, in
PyTorch on the CPU (all cores).

Usage: python3 torch_steps.py '[{"id": "train.cnn", "model": "cnn", "batch": 256}, ...]' [budget_s]
Prints one JSON object: {"python", "torch", "threads", "results": {id: {"ms", "steps_per_s"}}}.
Each task: 2 warm-up steps, then steps until ~budget_s (at least 3, at most 20); the median.
"""
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

TAU, EPS, ALPHA, ATTACK_STEPS = 0.5, 8 / 255, 0.007, 7


def he(*shape, fan_in):
    return (torch.randn(*shape) * (2.0 / fan_in) ** 0.5).requires_grad_()


def zeros(n):
    return torch.zeros(n, requires_grad=True)


def xent(logits, y1h):
    return -(F.log_softmax(logits, -1) * y1h).sum(-1).mean()


def ntxent(z, neg_eye, pos):
    zn = F.normalize(z, dim=-1, eps=1e-12)
    sim = zn @ zn.t() / TAU + neg_eye
    return (torch.logsumexp(sim, -1) - (sim * pos).sum(-1)).mean()


def ntxent_consts(n):
    m = 2 * n
    neg_eye = torch.diag(torch.full((m,), -1e9))
    pos = torch.zeros(m, m)
    idx = torch.arange(m)
    pos[idx, (idx + n) % m] = 1
    return neg_eye, pos


def one_hot(n, k):
    return F.one_hot(torch.randint(0, k, (n,)), k).float()


def make(model, b):
    """Returns (params, step_fn)."""
    lr = 0.05
    if model == "mlp":
        sizes = [784, 512, 256, 10]
        p = []
        for i in range(3):
            p += [he(sizes[i], sizes[i + 1], fan_in=sizes[i]), zeros(sizes[i + 1])]
        x, y = torch.rand(b, 784), one_hot(b, 10)

        def loss():
            h = x
            for i in range(3):
                h = h @ p[2 * i] + p[2 * i + 1]
                if i < 2:
                    h = F.relu(h)
            return xent(h, y)
    elif model == "cnn":
        p = [he(32, 1, 3, 3, fan_in=9), zeros(32), he(64, 32, 3, 3, fan_in=288), zeros(64),
             he(3136, 128, fan_in=3136), zeros(128), he(128, 10, fan_in=128), zeros(10)]
        x, y = torch.rand(b, 1, 28, 28), one_hot(b, 10)

        def loss():
            h = F.max_pool2d(F.relu(F.conv2d(x, p[0], p[1], padding=1)), 2)
            h = F.max_pool2d(F.relu(F.conv2d(h, p[2], p[3], padding=1)), 2)
            h = F.relu(h.reshape(b, 3136) @ p[4] + p[5])
            return xent(h @ p[6] + p[7], y)
    elif model in ("simclr", "rocl"):
        p = [he(16, 3, 3, 3, fan_in=27), zeros(16), he(32, 16, 3, 3, fan_in=144), zeros(32),
             he(2048, 128, fan_in=2048), zeros(128), he(128, 128, fan_in=128), zeros(128),
             he(128, 64, fan_in=128), zeros(64)]
        x = torch.rand(b, 3, 32, 32)
        n1, n2 = torch.randn_like(x) * 0.1, torch.randn_like(x) * 0.1
        d0 = (torch.rand_like(x) * 2 - 1) * EPS
        neg_eye, pos = ntxent_consts(b)

        def enc(t):
            h = F.max_pool2d(F.relu(F.conv2d(t, p[0], p[1], padding=1)), 2)
            h = F.max_pool2d(F.relu(F.conv2d(h, p[2], p[3], padding=1)), 2)
            h = F.relu(h.reshape(t.shape[0], 2048) @ p[4] + p[5])
            h = F.relu(h @ p[6] + p[7])
            return h @ p[8] + p[9]

        def loss():
            v1, v2 = (x + n1).clamp(0, 1), (x + n2).clamp(0, 1)
            if model == "rocl":
                with torch.no_grad():
                    z2c = enc(v2)
                lo, hi = (v1 - EPS).clamp(min=0), (v1 + EPS).clamp(max=1)
                xa = torch.min(torch.max(v1 + d0, lo), hi)
                for _ in range(ATTACK_STEPS):
                    xa = xa.detach().requires_grad_()
                    g, = torch.autograd.grad(ntxent(torch.cat([enc(xa), z2c]), neg_eye, pos), xa)
                    xa = torch.min(torch.max(xa + ALPHA * g.sign(), lo), hi)
                xa = xa.detach()
            z = enc(torch.cat([v1, v2]))
            l = ntxent(z, neg_eye, pos)
            if model == "rocl":
                l = l + ntxent(torch.cat([enc(xa), z[b:]]), neg_eye, pos)
            return l
    else:
        raise ValueError(model)

    def step():
        l = loss()
        grads = torch.autograd.grad(l, p)
        with torch.no_grad():
            for w, g in zip(p, grads):
                w.sub_(lr * g)
        return l.item()

    return step


def main():
    tasks = json.loads(sys.argv[1])
    budget = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    out = {}
    for t in tasks:
        try:
            step = make(t["model"], t["batch"])
            step(); step()
            times = []
            t_end = time.perf_counter() + budget
            while len(times) < 3 or (time.perf_counter() < t_end and len(times) < 20):
                t0 = time.perf_counter()
                step()
                times.append(time.perf_counter() - t0)
            ms = statistics.median(times) * 1e3
            out[t["id"]] = {"ms": ms, "steps_per_s": 1e3 / ms}
        except Exception as e:  # report, do not fail the suite
            out[t["id"]] = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps({"python": sys.executable, "torch": torch.__version__, "threads": torch.get_num_threads(), "results": out}))


if __name__ == "__main__":
    main()
