#!/usr/bin/python3
"""PyTorch peer of `lct-bench step`: the same training step per method, written the way the
original implementations write it (index_select + bmm + exp for NCE, index_copy bank updates,
the InvaSpread batch criterion, CMC's two memories with one draw, CPC's per-step W_k).

usage: peer_step.py METHOD THREADS STEPS
prints "samples_per_s peak_rss_mib last_loss samples_per_cpu_s"
"""
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

N_ROWS, POOL, DIM = 60000, 4096, 128
CPC_WINDOW, CPC_SIGNAL, CPC_K = 5120, 5600, 12
EPS = 1e-7


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 512), nn.ReLU(), nn.Linear(512, DIM))


def embed(model, x):
    return F.normalize(model(x), dim=1)


def augment_images(x, jitter):
    """Random resized crop (scale 0.2-1, ratio 3/4-4/3, bilinear), optional brightness/contrast
    jitter 0.4, horizontal flip p 0.5; batched with affine_grid/grid_sample (torchvision is absent)."""
    b = x.shape[0]
    area = torch.empty(b).uniform_(0.2, 1.0)
    logr = torch.empty(b).uniform_(torch.log(torch.tensor(3 / 4)).item(), torch.log(torch.tensor(4 / 3)).item())
    ratio = torch.exp(logr)
    w = torch.sqrt(area * ratio).clamp(max=1.0)
    h = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (torch.rand(b) * 2 - 1) * (1 - w)
    cy = (torch.rand(b) * 2 - 1) * (1 - h)
    flip = torch.where(torch.rand(b) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = w * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = h
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    y = F.grid_sample(x, grid, mode='bilinear', align_corners=False)
    if jitter:
        bright = torch.empty(b, 1, 1, 1).uniform_(0.6, 1.4)
        contrast = torch.empty(b, 1, 1, 1).uniform_(0.6, 1.4)
        y = y * bright
        mean = y.mean(dim=(1, 2, 3), keepdim=True)
        y = ((y - mean) * contrast + mean).clamp(0, 1)
    return y


class NCE:
    """InstDisc NCEAverage + NCECriterion: float exp, first-batch Z, eps in the denominators."""

    def __init__(self, k, t=0.07):
        stdv = 1.0 / (DIM / 3) ** 0.5
        self.memory = F.normalize(torch.rand(N_ROWS, DIM) * 2 * stdv - stdv, dim=1)
        self.k, self.t, self.z = k, t, -1.0

    def scores(self, f, idx):
        b = f.shape[0]
        weight = self.memory.index_select(0, idx.view(-1)).view(b, self.k + 1, DIM)
        out = torch.exp(torch.bmm(weight, f.unsqueeze(2)).squeeze(2) / self.t)
        return out

    def criterion(self, out):
        b = out.shape[0]
        kpn = self.k / N_ROWS
        p_mt = out[:, 0]
        ln_pmt = torch.log(p_mt / (p_mt + kpn + EPS))
        ln_pon = torch.log(kpn / (out[:, 1:] + kpn + EPS))
        return -(ln_pmt.sum() + ln_pon.sum()) / b

    def update(self, f, y):
        with torch.no_grad():
            pos = self.memory.index_select(0, y) * 0.5 + f.detach() * 0.5
            self.memory.index_copy_(0, y, F.normalize(pos, dim=1))


def draw(b, k, y):
    idx = torch.randint(0, N_ROWS, (b, k + 1))
    idx[:, 0] = y
    return idx


def main():
    method, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    batch = {'instdisc': 256, 'npsoftmax': 256, 'invaspread': 128, 'cpc': 8, 'cmc': 128}[method]

    if method == 'cpc':
        pool = torch.rand(POOL // 8, 1, CPC_SIGNAL) * 2 - 1
        enc = nn.Sequential(
            nn.Conv1d(1, 128, 10, 5, 3), nn.ReLU(), nn.Conv1d(128, 128, 8, 4, 2), nn.ReLU(),
            nn.Conv1d(128, 128, 4, 2, 1), nn.ReLU(), nn.Conv1d(128, 128, 4, 2, 1), nn.ReLU(),
            nn.Conv1d(128, 128, 4, 2, 1), nn.ReLU())
        gru = nn.GRU(128, 64, batch_first=True)
        wk = nn.ModuleList([nn.Linear(64, 128, bias=False) for _ in range(CPC_K)])
        params = list(enc.parameters()) + list(gru.parameters()) + list(wk.parameters())
        opt = torch.optim.Adam(params, lr=2e-4)
    else:
        pool = torch.randint(0, 256, (POOL, 1, 28, 28), dtype=torch.uint8)
        enc = cnn()
        params = list(enc.parameters())
        if method == 'cmc':
            enc2 = cnn()
            params += list(enc2.parameters())
        opt = torch.optim.SGD(params, lr=0.03, momentum=0.9, weight_decay=1e-4 if method == 'cmc' else 5e-4)
        if method in ('instdisc', 'npsoftmax'):
            nce = NCE(4096)
        elif method == 'cmc':
            mem_l, mem_ab = NCE(4096), NCE(4096)

    value = 0.0
    t0 = c0 = 0.0
    for s in range(steps + 1):
        if s == 1:
            t0 = time.perf_counter()
            c0 = time.process_time()
        y = torch.randint(0, N_ROWS, (batch,))
        opt.zero_grad()
        if method == 'cpc':
            sig = pool[y % (POOL // 8)]
            start = torch.randint(0, CPC_SIGNAL - CPC_WINDOW + 1, (batch,))
            cols = start.unsqueeze(1) + torch.arange(CPC_WINDOW).unsqueeze(0)
            x = torch.gather(sig[:, 0, :], 1, cols).unsqueeze(1)
            z = enc(x).transpose(1, 2)  # B x T x D
            c, _ = gru(z)
            t_len = z.shape[1]
            loss = 0.0
            labels = torch.arange(batch)
            for k in range(1, CPC_K + 1):
                pred = wk[k - 1](c[:, :t_len - k])          # B x (T-k) x D
                scores = torch.einsum('btd,ctd->tbc', pred, z[:, k:])
                loss = loss + F.cross_entropy(scores.reshape(-1, batch), labels.repeat(t_len - k))
            loss = loss / CPC_K
        else:
            img = pool[y % POOL].float() / 255.0
            if method in ('instdisc', 'npsoftmax'):
                f = embed(enc, augment_images(img, True))
                if method == 'instdisc':
                    out = nce.scores(f, draw(batch, 4096, y))
                    if nce.z < 0:
                        nce.z = out.mean().item() * N_ROWS
                    loss = nce.criterion(out / nce.z)
                else:
                    loss = F.cross_entropy(f @ nce.memory.t() / 0.07, y)
            elif method == 'invaspread':
                x = torch.cat([augment_images(img, True), augment_images(img, True)], 0)
                f = embed(enc, x)
                n = f.shape[0]
                reordered = torch.cat([f[n // 2:], f[:n // 2]], 0)
                pos = torch.exp((f * reordered.detach()).sum(1) / 0.1)
                all_prob = torch.exp(f @ f.t().detach() / 0.1) * (1 - torch.eye(n))
                all_div = all_prob.sum(1)
                p_mt = pos / all_div
                ln_pon = torch.log(1 - all_prob / all_div.unsqueeze(1)).sum(1) - torch.log(1 - p_mt)
                loss = -(torch.log(p_mt).sum() + ln_pon.sum()) / n
            else:  # cmc
                f_l = embed(enc, augment_images(img, False))
                f_ab = embed(enc2, augment_images(img, False))
                idx = draw(batch, 4096, y)
                out_ab = mem_l.scores(f_ab, idx)
                out_l = mem_ab.scores(f_l, idx)
                if mem_ab.z < 0:
                    mem_ab.z = out_l.mean().item() * N_ROWS
                if mem_l.z < 0:
                    mem_l.z = out_ab.mean().item() * N_ROWS
                loss = mem_ab.criterion(out_l / mem_ab.z) + mem_l.criterion(out_ab / mem_l.z)
        loss.backward()
        opt.step()
        if method in ('instdisc', 'npsoftmax'):
            nce.update(f, y)
        elif method == 'cmc':
            mem_l.update(f_l, y)
            mem_ab.update(f_ab, y)
        value = float(loss)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print('%.3f %.1f %.5f %.3f' % (batch * steps / dt, rss, value, batch * steps / dc))


if __name__ == '__main__':
    main()
