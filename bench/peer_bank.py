"""PyTorch peer of `lct-bench bank`: the memory-bank step and the kNN evaluation written
the way the original InstDisc code does them (alias-method sampling, index_select gather,
bmm, index_copy update; kNN as mm + topk + gather + scatter one-hot + weighted sum).

usage: peer_bank.py THREADS STEPS D B K N [N ...] [--knn DATA_PREFIX Q NROWS D K TAU CLASSES]
Prints one line per measurement: "step N MEDIAN_WALL_SECONDS MEDIAN_CPU_SECONDS" per step,
"knn WALL_SECONDS CPU_SECONDS", "rss MIB".
"""
import resource
import sys
import time

import numpy as np
import torch


class AliasSampler:
    """Walker's alias method, as the original code draws its noise indices."""

    def __init__(self, probs):
        n = len(probs)
        self.prob = torch.zeros(n)
        self.alias = torch.zeros(n, dtype=torch.long)
        small, large = [], []
        scaled = [p * n for p in probs.tolist()]
        for i, q in enumerate(scaled):
            (small if q < 1.0 else large).append(i)
        while small and large:
            s, l = small.pop(), large.pop()
            self.prob[s] = scaled[s]
            self.alias[s] = l
            scaled[l] = scaled[l] - 1.0 + scaled[s]
            (small if scaled[l] < 1.0 else large).append(l)
        for i in small + large:
            self.prob[i] = 1.0

    def draw(self, count):
        kk = torch.zeros(count, dtype=torch.long).random_(0, len(self.prob))
        prob = self.prob.index_select(0, kk)
        alias = self.alias.index_select(0, kk)
        b = torch.bernoulli(prob)
        return kk.mul(b.long()) + alias.mul((1 - b).long())


def bank_step(memory, sampler, x, y, k, momentum):
    bsz, d = x.shape
    idx = sampler.draw(bsz * (k + 1)).view(bsz, -1)
    idx.select(1, 0).copy_(y)
    weight = torch.index_select(memory, 0, idx.view(-1)).view(bsz, k + 1, d)
    out = torch.bmm(weight, x.view(bsz, d, 1)).view(bsz, k + 1)
    pos = torch.index_select(memory, 0, y.view(-1))
    pos.mul_(momentum)
    pos.add_(torch.mul(x, 1 - momentum))
    norm = pos.pow(2).sum(1, keepdim=True).pow(0.5)
    memory.index_copy_(0, y, pos.div(norm))
    return out


def knn(train_features, train_labels, queries, k, sigma, classes, batch=100):
    train_t = train_features.t()
    preds = torch.zeros(queries.shape[0], dtype=torch.long)
    one_hot = torch.zeros(batch * k, classes)
    for start in range(0, queries.shape[0], batch):
        feats = queries[start:start + batch]
        bsz = feats.shape[0]
        dist = torch.mm(feats, train_t)
        yd, yi = dist.topk(k, dim=1, largest=True, sorted=True)
        candidates = train_labels.view(1, -1).expand(bsz, -1)
        retrieval = torch.gather(candidates, 1, yi)
        one_hot.resize_(bsz * k, classes).zero_()
        one_hot.scatter_(1, retrieval.view(-1, 1), 1)
        yd_transform = yd.clone().div_(sigma).exp_()
        probs = torch.sum(torch.mul(one_hot.view(bsz, -1, classes), yd_transform.view(bsz, -1, 1)), 1)
        _, predictions = probs.sort(1, True)
        preds[start:start + bsz] = predictions[:, 0]
    return preds


def main():
    args = sys.argv[1:]
    knn_args = None
    if "--knn" in args:
        i = args.index("--knn")
        knn_args, args = args[i + 1:], args[:i]
    threads, steps, d, bsz, k = (int(a) for a in args[:5])
    sizes = [int(a) for a in args[5:]]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    with torch.no_grad():
        for n in sizes:
            stdv = 1.0 / (d / 3) ** 0.5
            memory = torch.rand(n, d).mul_(2 * stdv).add_(-stdv)
            sampler = AliasSampler(torch.ones(n))
            x = torch.nn.functional.normalize(torch.randn(bsz, d), dim=1)
            y = torch.randint(0, n, (bsz,))
            bank_step(memory, sampler, x, y, k, 0.5)
            times, cpu = [], []
            for _ in range(steps):
                y = torch.randint(0, n, (bsz,))
                t0, c0 = time.perf_counter(), time.process_time()
                bank_step(memory, sampler, x, y, k, 0.5)
                times.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            print("step %d %.6f %.6f" % (n, float(np.median(times)), float(np.median(cpu))), flush=True)
            del memory, sampler
        if knn_args:
            prefix, q, n, d, k, tau, classes = knn_args
            q, n, d, k, classes, tau = int(q), int(n), int(d), int(k), int(classes), float(tau)
            feats = torch.from_numpy(np.fromfile(prefix + ".features", dtype=np.float32).reshape(n, d))
            labels = torch.from_numpy(np.fromfile(prefix + ".labels", dtype=np.int32).astype(np.int64))
            queries = torch.from_numpy(np.fromfile(prefix + ".queries", dtype=np.float32).reshape(q, d))
            t0, c0 = time.perf_counter(), time.process_time()
            preds = knn(feats, labels, queries, k, tau, classes)
            print("knn %.6f %.6f" % (time.perf_counter() - t0, time.process_time() - c0), flush=True)
            preds.numpy().astype(np.int32).tofile(prefix + ".peer_pred")
    print("rss %.1f" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0), flush=True)


if __name__ == "__main__":
    main()
