#!/usr/bin/env python3
"""Plain PyTorch reference for `deai train` / `deai bench fl` (issue 4's configuration).

MLP 784-200-10 (ReLU) with PyTorch's default init, 10 clients, 20 rounds, 1 local epoch per
round, plain SGD (lr 0.05, no momentum, no weight decay), mini-batches of 32 (the last, smaller
batch of an epoch is kept, as DataLoader's default), cross-entropy averaged over the batch,
FedAvg weighted by sample count, on the four IDX files of data/mnist-10k (pixels / 255, no
normalisation). Clients train one after another in this process, each on its own reshuffled
shard every round; torch uses its default intra-op threads (one per core).

Partitions (numpy, seeded by --seed): `iid` (shuffle and deal into near-equal parts) and
`dirichlet:<alpha>` (NIID-Bench label skew: per class, proportions ~ Dir(alpha), clients already
holding n/N samples get no more, redrawn until every client holds at least 10). With
`--partition-file` the client index lists are read from a JSON file instead (a list of lists,
e.g. the `partition_indices.json` that `deai train` writes), so both implementations can train on
exactly the same shards (`--write-partition` writes this script's lists for `deai train
--partition-file`).

Prints the accuracy after every round, the final test accuracy, the median seconds per round
(local training of all clients + aggregation; test evaluation not included), and with --json a
single JSON object on the last line.

Usage:
    python3 scripts/pytorch_fl.py --partition iid
    python3 scripts/pytorch_fl.py --partition dirichlet:0.5 --seed 0 --json
"""

import argparse
import gzip
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn


def read_idx(path):
    """Reads an IDX file (gzip or plain) into a numpy uint8 array."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    magic = int.from_bytes(raw[0:4], "big")
    dims = magic & 0xFF
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims)
    return data.reshape(shape)


def find(folder, names):
    for name in names:
        for suffix in ("", ".gz"):
            p = os.path.join(folder, name + suffix)
            if os.path.exists(p):
                return p
    sys.exit(f"error: {folder}: none of {names} (.gz) found")


def load(folder):
    def split(kind, prefixes):
        imgs = read_idx(find(folder, [f"{p}-images-idx3-ubyte" for p in prefixes]))
        labs = read_idx(find(folder, [f"{p}-labels-idx1-ubyte" for p in prefixes]))
        x = torch.from_numpy(imgs.reshape(len(imgs), -1).astype(np.float32) / 255.0)
        y = torch.from_numpy(labs.astype(np.int64))
        return x, y

    return split("train", ["train"]), split("test", ["test", "t10k"])


def partition_iid(n, clients, rng):
    idx = rng.permutation(n)
    return [idx[c * n // clients : (c + 1) * n // clients] for c in range(clients)]


def partition_dirichlet(labels, clients, alpha, rng, classes=10):
    n = len(labels)
    min_size = 0
    while min_size < min(10, n // clients):
        parts = [[] for _ in range(clients)]
        for k in range(classes):
            idx_k = np.where(labels == k)[0]
            rng.shuffle(idx_k)
            p = rng.dirichlet(np.repeat(alpha, clients))
            p = np.array([pj * (len(part) < n / clients) for pj, part in zip(p, parts)])
            p = p / p.sum()
            cuts = (np.cumsum(p) * len(idx_k)).astype(int)[:-1]
            parts = [part + piece.tolist() for part, piece in zip(parts, np.split(idx_k, cuts))]
        min_size = min(len(p) for p in parts)
    return [np.array(sorted(p), dtype=np.int64) for p in parts]


def make_partition(spec, labels, clients, seed):
    rng = np.random.RandomState(seed)
    if spec == "iid":
        return partition_iid(len(labels), clients, rng)
    if spec.startswith("dirichlet:"):
        return partition_dirichlet(labels, clients, float(spec.split(":", 1)[1]), rng)
    sys.exit(f"error: unknown partition {spec!r} (accepted: iid, dirichlet:<alpha>)")


def mlp():
    return nn.Sequential(nn.Linear(784, 200), nn.ReLU(), nn.Linear(200, 10))


def train_client(model, x, y, idx, epochs, batch, lr, gen):
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    idx = torch.from_numpy(idx)
    for _ in range(epochs):
        order = idx[torch.randperm(len(idx), generator=gen)]
        for s in range(0, len(order), batch):
            b = order[s : s + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[b]), y[b])
            loss.backward()
            opt.step()


@torch.no_grad()
def fedavg(states, weights):
    total = float(sum(weights))
    return {
        k: sum(s[k] * (w / total) for s, w in zip(states, weights)) for k in states[0].keys()
    }


@torch.no_grad()
def accuracy(model, x, y):
    return (model(x).argmax(1) == y).float().mean().item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    ap.add_argument("--data", default=os.path.join(root, "data", "mnist-10k"))
    ap.add_argument("--partition", default="iid", help="iid or dirichlet:<alpha>")
    ap.add_argument("--partition-file", help="JSON list of per-client index lists")
    ap.add_argument("--write-partition", help="also write the client index lists to this JSON file")
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--local-epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, help="torch intra-op threads [default: torch's]")
    ap.add_argument("--normalize", action="store_true", help="(x - 0.1307) / 0.3081 after / 255")
    ap.add_argument("--json", action="store_true", help="print one JSON object last")
    args = ap.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    (xtr, ytr), (xte, yte) = load(args.data)
    if args.normalize:
        xtr, xte = (xtr - 0.1307) / 0.3081, (xte - 0.1307) / 0.3081
    if args.partition_file:
        with open(args.partition_file) as f:
            parts = [np.array(p, dtype=np.int64) for p in json.load(f)]
        spec = f"file:{args.partition_file}"
    else:
        parts = make_partition(args.partition, ytr.numpy(), args.clients, args.seed)
        spec = args.partition
    sizes = [len(p) for p in parts]
    if args.write_partition:
        with open(args.write_partition, "w") as f:
            json.dump([[int(i) for i in p] for p in parts], f)
    gen = torch.Generator().manual_seed(args.seed)

    global_model = mlp()
    local = mlp()
    secs, accs = [], []
    for r in range(args.rounds):
        t0 = time.perf_counter()
        g = {k: v.clone() for k, v in global_model.state_dict().items()}
        states = []
        for idx in parts:
            local.load_state_dict(g)
            train_client(local, xtr, ytr, idx, args.local_epochs, args.batch, args.lr, gen)
            states.append({k: v.clone() for k, v in local.state_dict().items()})
        global_model.load_state_dict(fedavg(states, sizes))
        secs.append(time.perf_counter() - t0)
        accs.append(accuracy(global_model, xte, yte))
        if not args.json:
            print(f"round {r + 1:>3}: test accuracy {accs[-1]:.4f}, {secs[-1]:.4f} s")

    result = {
        "implementation": f"pytorch {torch.__version__}",
        "partition": spec,
        "seed": args.seed,
        "clients": len(parts),
        "rounds": args.rounds,
        "threads": torch.get_num_threads(),
        "client_sizes": sizes,
        "test_accuracy": accs[-1] if accs else None,
        "median_round_seconds": statistics.median(secs) if secs else None,
        "first_round_seconds": secs[0] if secs else None,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"final test accuracy {result['test_accuracy']:.4f}; median round "
            f"(train + aggregate) {result['median_round_seconds']:.4f} s on "
            f"{result['threads']} threads (pytorch {torch.__version__})"
        )


if __name__ == "__main__":
    main()
