"""
Float64 PyTorch transcriptions of IDAA's and RoCL's official code, for test/ssl-fidelity.test.ts.

  vae     IDAA's CVAE_cifar_withbn (vae.py) and its training loss (train_vae.py), as written there,
          with two generalizations: `channels` input channels (IDAA: 3) and a feature map of side
          f = S/4 (IDAA: 8 for CIFAR's 32). Train mode; z = mu + exp(logvar/2)*eps with eps given.
  ntxent  RoCL's pairwise_similarity and NT_xent (loss.py) without the multi-GPU branches and .cuda(),
          and RoCL's loss NT_xent_Rep(t, t', adv) + (1/lambda) NT_xent(adv, t').

Reads a JSON case file (argv[1]); prints the losses and gradients as JSON.
"""
import json
import sys

import torch
from torch import nn
from torch.nn import functional as F

torch.set_default_dtype(torch.float64)


# ------------------------------------------------------------------------------------------------
# IDAA, vae.py (ResBlock and CVAE_cifar_withbn; `3` -> channels, `8` -> f)

class ResBlock(nn.Module):
    def __init__(self, in_channels, out_channels, mid_channels=None, bn=False):
        super(ResBlock, self).__init__()
        if mid_channels is None:
            mid_channels = out_channels
        layers = [
            nn.LeakyReLU(),
            nn.Conv2d(in_channels, mid_channels, kernel_size=3, stride=1, padding=1),
            nn.LeakyReLU(),
            nn.Conv2d(mid_channels, out_channels, kernel_size=1, stride=1, padding=0)]
        if bn:
            layers.insert(2, nn.BatchNorm2d(out_channels))
        self.convs = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.convs(x)


class CVAE_cifar_withbn(nn.Module):
    def __init__(self, d, z, channels=3, f=8):
        super(CVAE_cifar_withbn, self).__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, d // 2, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(d // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(d // 2, d, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(d),
            nn.ReLU(inplace=True),
            ResBlock(d, d, bn=True),
            nn.BatchNorm2d(d),
            ResBlock(d, d, bn=True),
        )
        self.decoder = nn.Sequential(
            ResBlock(d, d, bn=True),
            nn.BatchNorm2d(d),
            ResBlock(d, d, bn=True),
            nn.BatchNorm2d(d),
            nn.ConvTranspose2d(d, d // 2, kernel_size=4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(d // 2),
            nn.LeakyReLU(inplace=True),
            nn.ConvTranspose2d(d // 2, channels, kernel_size=4, stride=2, padding=1, bias=False),
        )
        self.bn = nn.BatchNorm2d(channels)
        self.f = f
        self.d = d
        self.z = z
        self.fc11 = nn.Linear(d * self.f ** 2, self.z)
        self.fc12 = nn.Linear(d * self.f ** 2, self.z)
        self.fc21 = nn.Linear(self.z, d * self.f ** 2)

    def encode(self, x):
        h = self.encoder(x)
        h1 = h.view(-1, self.d * self.f ** 2)
        return h, self.fc11(h1), self.fc12(h1)

    def decode(self, z):
        z = z.view(-1, self.d, self.f, self.f)
        h3 = self.decoder(z)
        return torch.tanh(h3)


def res_names(prefix, ours):
    return {f'{prefix}.convs.1.weight': f'{ours}.conv3.w', f'{prefix}.convs.1.bias': f'{ours}.conv3.b',
            f'{prefix}.convs.2.weight': f'{ours}.bn.scale', f'{prefix}.convs.2.bias': f'{ours}.bn.bias',
            f'{prefix}.convs.4.weight': f'{ours}.conv1.w', f'{prefix}.convs.4.bias': f'{ours}.conv1.b'}


def bn_names(prefix, ours):
    return {f'{prefix}.weight': f'{ours}.scale', f'{prefix}.bias': f'{ours}.bias'}


def lin_names(prefix, ours):
    return {f'{prefix}.weight': f'{ours}.w', f'{prefix}.bias': f'{ours}.b'}


# torch parameter name -> wgrad leaf path
NAMES = {
    'encoder.0.weight': 'enc.conv1.w', **bn_names('encoder.1', 'enc.bn1'), 'encoder.3.weight': 'enc.conv2.w',
    **bn_names('encoder.4', 'enc.bn2'), **res_names('encoder.6', 'enc.res[0]'), **bn_names('encoder.7', 'enc.between[0]'),
    **res_names('encoder.8', 'enc.res[1]'),
    **res_names('decoder.0', 'dec.res[0]'), **bn_names('decoder.1', 'dec.after[0]'), **res_names('decoder.2', 'dec.res[1]'),
    **bn_names('decoder.3', 'dec.after[1]'), 'decoder.4.weight': 'dec.convT1.w', **bn_names('decoder.5', 'dec.bn1'),
    'decoder.7.weight': 'dec.convT2.w', **bn_names('bn', 'dec.out'),
    **lin_names('fc11', 'enc.mu'), **lin_names('fc12', 'enc.logVar'), **lin_names('fc21', 'dec.fc'),
}


def vae_case(case):
    c, s = case['channels'], case['size']
    model = CVAE_cifar_withbn(case['width'], case['latent'], channels=c, f=s // 4)
    model.train()
    leaves = case['params']
    named = dict(model.named_parameters())
    if set(NAMES) != set(named) or set(NAMES.values()) != set(leaves):
        raise SystemExit(f'parameter names differ: torch {sorted(named)} vs ours {sorted(leaves)}')
    with torch.no_grad():
        for name, p in named.items():
            v = torch.tensor(leaves[NAMES[name]]['data']).reshape(leaves[NAMES[name]]['shape'])
            p.copy_(v.t() if name.startswith('fc') and name.endswith('weight') else v)
    x = torch.tensor(case['x']).reshape(case['xShape'])
    mean = torch.tensor(case['mean']).view(1, c, 1, 1)
    std = torch.tensor(case['std']).view(1, c, 1, 1)
    x = (x - mean) / std  # IDAA's transforms.Normalize
    # train_vae.py's step: model(x) = (z, gx, mu, logvar), then the loss.
    _, mu, logvar = model.encode(x)
    eps = torch.tensor(case['noise']).reshape(mu.shape)
    z = eps.mul(logvar.mul(0.5).exp()).add(mu)  # reparameterize in training mode, eps given
    gx = model.bn(model.decode(model.fc21(z)))
    bs = x.size(0)
    l_rec = F.mse_loss(x, gx)
    l_kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    l_kl /= bs * c * case['latent']  # IDAA: bs * 3 * args.dim
    loss = l_rec + case['beta'] * l_kl
    loss.backward()
    grads = {}
    for name, p in named.items():
        g = p.grad.t() if name.startswith('fc') and name.endswith('weight') else p.grad
        grads[NAMES[name]] = g.reshape(-1).tolist()
    return {'loss': loss.item(), 'mse': l_rec.item(), 'kl': l_kl.item(), 'grads': grads}


# ------------------------------------------------------------------------------------------------
# RoCL, loss.py (single GPU)

def pairwise_similarity(outputs, temperature=0.5, detach=True):
    B = outputs.shape[0]
    outputs_norm = outputs / (outputs.norm(dim=1).view(B, 1) + 1e-8)
    other = outputs_norm.transpose(0, 1)
    # RoCL: torch.mm(outputs_norm, outputs_norm.transpose(0,1).detach()); detach=False: SimCLR's.
    similarity_matrix = (1. / temperature) * torch.mm(outputs_norm, other.detach() if detach else other)
    return similarity_matrix, outputs


def NT_xent(similarity_matrix, adv_type):
    N2 = len(similarity_matrix)
    if adv_type == 'None':
        N = int(len(similarity_matrix) / 2)
    elif adv_type == 'Rep':
        N = int(len(similarity_matrix) / 3)
    similarity_matrix_exp = torch.exp(similarity_matrix)
    similarity_matrix_exp = similarity_matrix_exp * (1 - torch.eye(N2, N2))
    NT_xent_loss = - torch.log(similarity_matrix_exp / (torch.sum(similarity_matrix_exp, dim=1).view(N2, 1) + 1e-8) + 1e-8)
    if adv_type == 'None':
        NT_xent_loss_total = (1. / float(N2)) * torch.sum(torch.diag(NT_xent_loss[0:N, N:]) + torch.diag(NT_xent_loss[N:, 0:N]))
    elif adv_type == 'Rep':
        NT_xent_loss_total = (1. / float(N2)) * torch.sum(torch.diag(NT_xent_loss[0:N, N:2 * N]) + torch.diag(NT_xent_loss[N:2 * N, 0:N])
                                                          + torch.diag(NT_xent_loss[0:N, 2 * N:]) + torch.diag(NT_xent_loss[2 * N:, 0:N])
                                                          + torch.diag(NT_xent_loss[N:2 * N, 2 * N:]) + torch.diag(NT_xent_loss[2 * N:, N:2 * N]))
    return NT_xent_loss_total


def ntxent_case(case):
    tau, lam = case['temperature'], case['lambda']
    views = [torch.tensor(v).reshape(case['shape']).requires_grad_(True) for v in case['views']]
    a, b, adv = views

    def run(name, f):
        for v in views:
            v.grad = None
        loss = f()
        loss.backward()
        return name, {'loss': loss.item(), 'grads': [v.grad.reshape(-1).tolist() if v.grad is not None else [0.0] * v.numel() for v in views]}

    def two(x, y, detach=True):
        return NT_xent(pairwise_similarity(torch.cat((x, y)), tau, detach)[0], 'None')

    def three(detach=True):
        return NT_xent(pairwise_similarity(torch.cat((a, b, adv)), tau, detach)[0], 'Rep')

    return dict([
        run('two anchor', lambda: two(a, b)),
        run('two full', lambda: two(a, b, detach=False)),
        run('three anchor', lambda: three()),
        run('rocl anchor', lambda: three() + (1.0 / lam) * two(adv, b)),
    ])


if __name__ == '__main__':
    with open(sys.argv[1]) as fh:
        case = json.load(fh)
    out = vae_case(case) if case['kind'] == 'vae' else ntxent_case(case)
    print(json.dumps(out))
