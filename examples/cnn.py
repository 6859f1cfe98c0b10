"""Training a small convolutional network with NumPy and fastconv -- no deep-learning framework.

What it shows
-------------
* The forward pass of a CNN built from fastconv primitives:
  ``conv -> ReLU -> max_pool -> conv -> ReLU -> flatten or global_avg_pool ->
  dense -> softmax`` (3x3 convolutions with 16 and 32 channels, ``padding=1``).
* Backpropagation by hand with fastconv's adjoints:

  - the second convolution through ``fastconv.conv_vjp`` (the forward returns
    a pullback giving ``(dx, dw, db)``);
  - the first convolution through ``fastconv.conv_grad_weight`` and
    ``fastconv.conv_grad_bias`` only -- the gradient w.r.t. the image itself is
    never needed, so ``conv_grad_input`` is not computed for it;
  - max pooling through ``fastconv.max_pool(..., return_indices=True)`` and
    ``fastconv.max_pool_grad(..., indices=idx)``, which routes each gradient to
    the arg-max recorded in the forward pass instead of searching it again.

* Adam in a few lines of NumPy, everything in float32.
* ``--check`` first compares the analytic gradients of all parameters with
  central finite differences (in float64).
* fastconv's thread count (``fastconv.threads``): one thread is best for layers
  this small.

Data: scikit-learn's bundled handwritten digits (``sklearn.datasets.load_digits``:
1797 8x8 images, no download) when scikit-learn is installed; otherwise -- or
with ``--synthetic`` -- a generated task: which of six strokes
(``- | / \\ + x``) a noisy 16x16 image shows, at a random position and length.
Digits keep the spatial layout (flatten); strokes are recognised wherever they
are (global average pooling).
The train/test split is fixed by ``--seed``.  The script prints the loss per
epoch and the test accuracy and exits with status 1 if the test accuracy is
below 95%.

Run it
------
    python examples/cnn.py                 # digits (synthetic without scikit-learn); ~5 s
    python examples/cnn.py --synthetic     # the generated stroke task; ~10 s
    python examples/cnn.py --check         # gradient check first
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import fastconv

# Conventions read by tests/test_examples.py (without importing this file):
REQUIRES = ()  # scikit-learn is optional: without it the synthetic task runs instead
TEST_ARGS = ((), ("--synthetic", "--check"))

CONV = dict(padding=1)  # 3x3 convolutions keeping the spatial size ("same")
POOL = 2                # 2x2 max pooling, stride 2


# ----------------------------------------------------------------------------- data

def load_digits_data():
    """The 8x8 digits as (N, 1, 8, 8) float32 in [0, 1] and int labels, or None."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        return None
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    return x, digits.target.astype(np.int64), [str(d) for d in range(10)]


STROKES = ["-", "|", "/", "\\", "+", "x"]


def make_strokes(n: int, rng: np.random.Generator, size: int = 16, noise: float = 0.2):
    """``n`` noisy size x size images of one of six strokes, with their labels.

    Every image holds one stroke of random length (7-13 pixels) and brightness
    centred at a random position; the crosses ``+`` and ``x`` are two strokes.
    Gaussian noise of standard deviation ``noise`` is added everywhere.
    """
    directions = {"-": [(0, 1)], "|": [(1, 0)], "/": [(-1, 1)], "\\": [(1, 1)],
                  "+": [(0, 1), (1, 0)], "x": [(-1, 1), (1, 1)]}
    labels = rng.integers(len(STROKES), size=n)
    x = noise * rng.standard_normal((n, 1, size, size))
    for i, label in enumerate(labels):
        half = int(rng.integers(3, 7))                     # stroke length 2*half + 1
        cy, cx = rng.integers(half, size - half, size=2)   # the stroke stays inside
        value = rng.uniform(0.6, 1.0)
        t = np.arange(-half, half + 1)
        for dy, dx in directions[STROKES[label]]:
            x[i, 0, cy + dy * t, cx + dx * t] += value
    return x.astype(np.float32), labels.astype(np.int64), STROKES


def split(x, y, test_fraction, rng):
    """A fixed random train/test split."""
    order = rng.permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


# ----------------------------------------------------------------------------- the network

def init_params(in_shape, n_classes, rng, head="flatten", c1=16, c2=32, dtype=np.float32):
    """He-initialised weights: conv (C_out, C_in, 3, 3), dense (n_classes, features)."""
    c0, h, w = in_shape
    features = c2 * (h // POOL) * (w // POOL) if head == "flatten" else c2

    def he(shape, fan_in, gain=2.0):
        return (rng.standard_normal(shape) * np.sqrt(gain / fan_in)).astype(dtype)

    return {
        "w1": he((c1, c0, 3, 3), c0 * 9), "b1": np.zeros(c1, dtype),
        "w2": he((c2, c1, 3, 3), c1 * 9), "b2": np.zeros(c2, dtype),
        # no ReLU after the dense layer: variance-preserving gain 1
        "w3": he((n_classes, features), features, 1.0), "b3": np.zeros(n_classes, dtype),
    }


def forward(params, x, head="flatten"):
    """Logits and everything the backward pass needs."""
    z1 = fastconv.conv(x, params["w1"], params["b1"], **CONV)            # (N, c1, H, W)
    a1 = np.maximum(z1, 0)
    p1, idx1 = fastconv.max_pool(a1, POOL, return_indices=True)          # (N, c1, H/2, W/2)
    z2, conv2_vjp = fastconv.conv_vjp(p1, params["w2"], params["b2"], **CONV)
    a2 = np.maximum(z2, 0)                                               # (N, c2, H/2, W/2)
    if head == "flatten":
        h = a2.reshape(len(x), -1)                                       # (N, c2*H/2*W/2)
    else:
        h = fastconv.global_avg_pool(a2)                                 # (N, c2)
    logits = h @ params["w3"].T + params["b3"]
    cache = dict(x=x, z1=z1, a1=a1, idx1=idx1, z2=z2, conv2_vjp=conv2_vjp, h=h)
    return logits, cache


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy and its gradient w.r.t. the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)   # log-sum-exp without overflow
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = len(labels)
    loss = -log_p[np.arange(n), labels].mean()
    grad = np.exp(log_p)
    grad[np.arange(n), labels] -= 1
    return float(loss), grad / n


def backward(params, cache, dlogits, head="flatten"):
    """Gradients of the loss w.r.t. every parameter, layer by layer from the top."""
    grads = {}
    grads["w3"] = dlogits.T @ cache["h"]
    grads["b3"] = dlogits.sum(axis=0)
    dh = dlogits @ params["w3"]
    z2 = cache["z2"]
    if head == "flatten":
        da2 = dh.reshape(z2.shape)
    else:  # the mean spreads its gradient evenly over the positions it averaged
        da2 = np.broadcast_to(dh[:, :, None, None] / (z2.shape[2] * z2.shape[3]), z2.shape)
    dz2 = da2 * (z2 > 0)                                          # through the ReLU
    dp1, grads["w2"], grads["b2"] = cache["conv2_vjp"](dz2)       # the conv's pullback
    # max pooling's adjoint: each gradient goes back to its window's recorded arg-max
    da1 = fastconv.max_pool_grad(dp1, cache["a1"], POOL, indices=cache["idx1"])
    dz1 = da1 * (cache["z1"] > 0)
    # First layer: only the weight and bias gradients (the input is the data).
    grads["w1"] = fastconv.conv_grad_weight(cache["x"], dz1, params["w1"].shape, **CONV)
    grads["b1"] = fastconv.conv_grad_bias(dz1)
    return grads


def predict(params, x, head="flatten", batch=512):
    return np.concatenate([forward(params, x[i:i + batch], head)[0].argmax(axis=1)
                           for i in range(0, len(x), batch)])


class Adam:
    """Adam (Kingma & Ba) on a dict of arrays, in place."""

    def __init__(self, params, lr=3e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps, self.t = lr, beta1, beta2, eps, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, params, grads):
        self.t += 1
        # bias corrections folded into the step size
        lr = self.lr * (1 - self.beta2 ** self.t) ** 0.5 / (1 - self.beta1 ** self.t)
        for k, g in grads.items():
            self.m[k] = self.beta1 * self.m[k] + (1 - self.beta1) * g
            self.v[k] = self.beta2 * self.v[k] + (1 - self.beta2) * g * g
            params[k] -= (lr * self.m[k] / (np.sqrt(self.v[k]) + self.eps)).astype(params[k].dtype)


# ----------------------------------------------------------------------------- gradient check

def gradient_check(x, y, n_classes, rng, head="flatten", entries=6) -> float:
    """Worst relative error between analytic and central-difference gradients of
    a few entries of every parameter, in float64."""
    params = init_params(x.shape[1:], n_classes, rng, head, dtype=np.float64)
    # Nonzero biases: with zero biases, the all-zero background of the images
    # puts many pre-activations exactly on the ReLU's kink, where a central
    # difference measures neither one-sided derivative.
    for name in ("b1", "b2", "b3"):
        params[name] = 0.1 * rng.standard_normal(params[name].shape)
    x = x.astype(np.float64)

    def loss(p):
        return softmax_cross_entropy(forward(p, x, head)[0], y)[0]

    logits, cache = forward(params, x, head)
    grads = backward(params, cache, softmax_cross_entropy(logits, y)[1], head)
    worst, eps = 0.0, 1e-6
    for name in params:
        for flat in rng.choice(params[name].size, size=min(entries, params[name].size),
                               replace=False):
            i = np.unravel_index(flat, params[name].shape)
            old = params[name][i]
            params[name][i] = old + eps
            up = loss(params)
            params[name][i] = old - eps
            down = loss(params)
            params[name][i] = old
            numeric = (up - down) / (2 * eps)
            analytic = grads[name][i]
            err = abs(numeric - analytic) / max(abs(numeric) + abs(analytic), 1e-8)
            worst = max(worst, err)
    return worst


# ----------------------------------------------------------------------------- main

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthetic", action="store_true",
                        help="the generated stroke task instead of scikit-learn's digits")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default 12 for digits, 8 for strokes)")
    parser.add_argument("--batch", type=int, default=32, help="minibatch size (default 32)")
    parser.add_argument("--lr", type=float, default=None,
                        help="Adam step size (default 3e-3 for digits, 1e-2 for strokes)")
    parser.add_argument("--seed", type=int, default=0, help="seed for data, split and weights")
    parser.add_argument("--head", choices=("flatten", "gap"), default=None,
                        help="flatten the last feature maps (default for digits) or "
                             "global-average-pool them (default for strokes)")
    parser.add_argument("--threads", type=int, default=1,
                        help="fastconv threads (default 1: these layers are too small to share)")
    parser.add_argument("--check", action="store_true",
                        help="compare analytic and finite-difference gradients first")
    args = parser.parse_args(argv)

    # The layers here are tiny (a minibatch of 32 8x8 or 16x16 images): a call
    # does tens of microseconds of arithmetic, less than what waking a second
    # OpenMP thread costs on a busy machine, so one thread is the fast choice.
    # (Results do not depend on the thread count: fastconv partitions work by
    # shape only.)
    with fastconv.threads(args.threads):
        return _run(args)


def _run(args) -> int:
    rng = np.random.default_rng(args.seed)
    data = None if args.synthetic else load_digits_data()
    if data is None:
        if not args.synthetic:
            print("scikit-learn is not installed: using the synthetic stroke task")
        x, y, classes = make_strokes(3000, rng)
        # Which stroke it is does not depend on where it is: global average
        # pooling makes the classifier translation invariant (flattening would
        # have to learn every stroke at every position and overfits).
        task, defaults = "strokes (synthetic, 16x16)", dict(epochs=8, lr=1e-2, head="gap")
    else:
        x, y, classes = data
        # A digit's identity depends on where its strokes are (6 vs 9, ...):
        # keep the spatial layout of the feature maps and flatten them.
        task, defaults = "digits (scikit-learn, 8x8)", dict(epochs=12, lr=3e-3, head="flatten")
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    x_train, y_train, x_test, y_test = split(x, y, 0.25, rng)
    print(f"task: {task}, {len(classes)} classes, {len(y_train)} train / {len(y_test)} "
          f"test images, head {args.head!r}, fastconv {fastconv.__version__}, "
          f"{fastconv.get_num_threads()} thread(s)")

    if args.check:
        # its own generator, so that --check does not change the training run
        err = gradient_check(x_train[:4], y_train[:4], len(classes),
                             np.random.default_rng(args.seed + 1), args.head)
        print(f"gradient check (all parameters vs finite differences): "
              f"max relative error {err:.2e}")
        if err > 1e-5:
            print("check: gradient check FAILED")
            return 1

    params = init_params(x.shape[1:], len(classes), rng, args.head)
    optimizer = Adam(params, lr=args.lr)
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(y_train))
        total = 0.0
        for start in range(0, len(order), args.batch):
            batch = order[start:start + args.batch]
            logits, cache = forward(params, x_train[batch], args.head)
            loss, dlogits = softmax_cross_entropy(logits, y_train[batch])
            optimizer.step(params, backward(params, cache, dlogits, args.head))
            total += loss * len(batch)
        # shown for information only: nothing (no early stopping) is chosen by it
        test_acc = np.mean(predict(params, x_test, args.head) == y_test)
        print(f"epoch {epoch:2d}: train loss {total / len(y_train):.4f}, "
              f"test accuracy {test_acc:.4f} ({time.perf_counter() - t0:.1f} s)")

    accuracy = float(np.mean(predict(params, x_test, args.head) == y_test))
    ok = accuracy >= 0.95
    print(f"check: test accuracy {accuracy:.4f} on {len(y_test)} images "
          f"(>= 0.95 required): {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
