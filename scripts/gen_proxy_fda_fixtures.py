"""Reference values for ember-proxy-fda (crates/proxy-fda/tests/fixtures/fda.json).

Independent NumPy implementations of: the batch kNN graph (top-K pre-trained cosines, diagonal
excluded, ties to the lower index), the FDA loss (weighted pairwise sigmoid, the three
non-neighbour weight modes, fixed and calibrated bias), the Proxy-FDA loss for given pooling
weights, and log-domain Sinkhorn / OTDD-lite. Run: python scripts/gen_proxy_fda_fixtures.py
"""
import json
import os

import numpy as np

rng = np.random.default_rng(0)


def normalize(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def knn(pre, k):
    s = normalize(pre) @ normalize(pre).T
    b = len(s)
    nb = []
    for i in range(b):
        idx = [j for j in range(b) if j != i]
        idx.sort(key=lambda j: (-s[i, j], j))
        nb.append(idx[:k])
    return s, nb


def neg_w(mode, s):
    if mode[0] == "const":
        return np.full_like(s, mode[1])
    if mode[0] == "presim":
        return np.maximum(s, 0)
    return np.clip(1 - s, 0, 2)


def softplus(x):
    return np.logaddexp(0, x)


def fda(ft, pre, k, tau, bias, mode):
    s_pre, nb = knn(pre, k)
    b = len(ft)
    if bias is None:
        bias = -np.mean([s_pre[i, nb[i][-1]] for i in range(b)]) / tau
    s = normalize(ft) @ normalize(ft).T
    total = 0.0
    for i in range(b):
        row = 0.0
        for j in range(b):
            if j == i:
                continue
            logit = s[i, j] / tau + bias
            if j in nb[i]:
                row += max(s_pre[i, j], 0) * softplus(-logit)
            else:
                row += neg_w(mode, np.array(s_pre[i, j])) * softplus(logit)
        total += row / (b - 1)
    return total / b, nb, bias


def proxy_fda(ft, pre, k, tau, mode, a_pos, a_neg):
    s_pre, nb = knn(pre, k)
    b = len(ft)
    n_p = a_pos.shape[1]
    bias = -np.mean([s_pre[i, nb[i][-1]] for i in range(b)]) / tau
    s = normalize(ft) @ normalize(ft).T
    total = 0.0
    for i in range(b):
        row = 0.0
        for j in range(b):
            if j == i:
                continue
            logit = s[i, j] / tau + bias
            if j in nb[i]:
                row += max(s_pre[i, j], 0) * softplus(-logit)
            else:
                row += neg_w(mode, np.array(s_pre[i, j])) * softplus(logit)
        for a, positive in ((a_pos, True), (a_neg, False)):
            for kk in range(n_p):
                p_ft = normalize(a[i, kk] @ ft)
                p_pre = normalize(a[i, kk] @ pre)
                c_ft = normalize(ft[i]) @ p_ft
                c_pre = normalize(pre[i]) @ p_pre
                logit = c_ft / tau + bias
                if positive:
                    row += max(c_pre, 0) * softplus(-logit)
                else:
                    row += neg_w(mode, np.array(c_pre)) * softplus(logit)
        total += row / (b - 1 + 2 * n_p)
    return total / b


def sinkhorn(c, eps, iters):
    n, m = c.shape
    f, g = np.zeros(n), np.zeros(m)
    la, lb = -np.log(n), -np.log(m)
    for _ in range(iters):
        f = eps * la - eps * np.logaddexp.reduce((g[None, :] - c) / eps, axis=1)
        g = eps * lb - eps * np.logaddexp.reduce((f[:, None] - c) / eps, axis=0)
    p = np.exp((f[:, None] + g[None, :] - c) / eps)
    return float((p * c).sum()), p


def otdd_lite(x, y, labels, eps_rel, iters):
    c_n = labels.max() + 1
    gx = [(x[labels == k].mean(0), x[labels == k].std(0)) for k in range(c_n)]
    gy = [(y[labels == k].mean(0), y[labels == k].std(0)) for k in range(c_n)]
    w = np.array([[((gx[a][0] - gy[b][0]) ** 2).sum() + ((gx[a][1] - gy[b][1]) ** 2).sum()
                   for b in range(c_n)] for a in range(c_n)])
    c = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1) + w[labels][:, labels]
    med = np.sort(c.ravel())[c.size // 2]
    return sinkhorn(c, eps_rel * med, iters)[0]


cases = []
for case, (b, d, k) in enumerate([(8, 5, 3), (12, 6, 4), (16, 8, 6)]):
    pre = rng.normal(size=(b, d)).astype(np.float32)
    ft = (pre + 0.7 * rng.normal(size=(b, d))).astype(np.float32)
    for mode in (("const", 1.0), ("const", 0.5), ("presim",), ("oneminus",)):
        for bias in (None, -2.0):
            loss, nb, bval = fda(ft.astype(np.float64), pre.astype(np.float64), k, 0.2, bias, mode)
            cases.append(dict(b=b, d=d, k=k, tau=0.2, bias=bias, mode=list(mode),
                              pre=pre.ravel().tolist(), ft=ft.ravel().tolist(),
                              neighbours=nb, bias_value=float(bval), loss=float(loss)))

proxy_cases = []
for b, d, k, n_p in [(8, 5, 3, 2), (10, 4, 4, 3)]:
    pre = rng.normal(size=(b, d)).astype(np.float32)
    ft = (pre + 0.5 * rng.normal(size=(b, d))).astype(np.float32)
    _, nb = knn(pre.astype(np.float64), k)
    a_pos = np.zeros((b, n_p, b))
    a_neg = np.zeros((b, n_p, b))
    for i in range(b):
        pos = nb[i]
        neg = [j for j in range(b) if j != i and j not in pos]
        for kk in range(n_p):
            w = rng.random(len(pos)); a_pos[i, kk, pos] = w / w.sum()
            w = rng.random(len(neg)); a_neg[i, kk, neg] = w / w.sum()
    for mode in (("const", 1.0), ("presim",)):
        loss = proxy_fda(ft.astype(np.float64), pre.astype(np.float64), k, 0.1, mode, a_pos, a_neg)
        proxy_cases.append(dict(b=b, d=d, k=k, n_p=n_p, tau=0.1, mode=list(mode),
                                pre=pre.ravel().tolist(), ft=ft.ravel().tolist(),
                                a_pos=a_pos.ravel().tolist(), a_neg=a_neg.ravel().tolist(),
                                loss=float(loss)))

ot_cases = []
for n, m, eps in [(5, 7, 0.5), (20, 20, 0.05)]:
    c = rng.random((n, m)) * 2
    cost, _ = sinkhorn(c, eps, 300)
    ot_cases.append(dict(n=n, m=m, eps=eps, iters=300, cost=c.ravel().tolist(), value=cost))

otdd_cases = []
for n, d, cl in [(30, 4, 3), (24, 3, 2)]:
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x * 1.3 + 0.2 * rng.normal(size=(n, d))).astype(np.float32)
    labels = np.arange(n) % cl
    v = otdd_lite(x.astype(np.float64), y.astype(np.float64), labels, 0.05, 300)
    otdd_cases.append(dict(n=n, d=d, x=x.ravel().tolist(), y=y.ravel().tolist(),
                           labels=labels.tolist(), eps_rel=0.05, iters=300, value=v))

out = os.path.join(os.path.dirname(__file__), "..", "crates", "proxy-fda", "tests", "fixtures", "fda.json")
with open(out, "w") as f:
    json.dump(dict(fda=cases, proxy_fda=proxy_cases, sinkhorn=ot_cases, otdd=otdd_cases), f)
print("wrote", out, len(cases), len(proxy_cases), len(ot_cases), len(otdd_cases))
