#!/usr/bin/env python3
"""Reference optimum for the linear probe (src/probe), written independently of the TypeScript.

Fits multinomial logistic regression with Newton's method on the full Hessian, numpy only,
float64, on a small fixed problem, and writes the problem and its optimum as a JSON fixture.

Objective (the same definition as src/probe/softmax-regression.ts):
    z = (x - mean) / std            per feature, mean/std of the fit data (population std)
    s_ic = W_c . z_i + b_c
    loss = mean_i [logsumexp_c s_ic - s_{i, y_i}] + (l2 / 2) * sum(W^2)     (no penalty on b)

The bias is only defined up to a common shift (softmax ignores it); Newton's minimum-norm step
from zero keeps sum(b) = 0, and the bias is centred before saving.

Run: /usr/bin/python3 weights-tools/probe_reference.py [OUT.json]
"""
import json
import sys

import numpy as np

OUT_DEFAULT = "test/fixtures/probe/reference.json"
L2 = 1e-3
SEED = 20261126
CLASS_SIZES = (40, 30, 20)   # uneven on purpose: the bias has work to do
NUM_FEATURES = 5


def make_problem():
    """Overlapping Gaussian classes (not separable, so the optimum is interior), with features of
    very different scales and offsets so that standardization matters. Stored as float32."""
    rng = np.random.default_rng(SEED)
    centres = rng.normal(0.0, 1.2, size=(len(CLASS_SIZES), NUM_FEATURES))
    rows, labels = [], []
    for c, size in enumerate(CLASS_SIZES):
        rows.append(centres[c] + rng.normal(0.0, 1.0, size=(size, NUM_FEATURES)))
        labels += [c] * size
    x = np.concatenate(rows)
    labels = np.array(labels)
    order = rng.permutation(len(labels))
    x, labels = x[order], labels[order]
    scale = np.array([1.0, 10.0, 0.1, 100.0, 3.0])
    offset = np.array([0.0, 5.0, -2.0, 50.0, 1.0])
    return (x * scale + offset).astype(np.float32), labels


def augmented(z):
    return np.hstack([z, np.ones((z.shape[0], 1))])


def loss_and_gradient(theta, za, onehot, l2):
    """theta [C, F+1] (last column = bias); returns loss, gradient [C, F+1], probabilities [N, C]."""
    n = za.shape[0]
    s = za @ theta.T
    m = s.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(s - m).sum(axis=1))
    p = np.exp(s - lse[:, None])
    w = theta[:, :-1]
    loss = np.mean(lse - (s * onehot).sum(axis=1)) + 0.5 * l2 * np.sum(w * w)
    grad = (p - onehot).T @ za / n
    grad[:, :-1] += l2 * w
    return loss, grad, p


def hessian(p, za, l2):
    n, c = p.shape
    k = za.shape[1]
    # d^2 loss / d theta_cj d theta_dk = mean_i (p_ic [c=d] - p_ic p_id) za_ij za_ik + l2 [c=d, j=k, j<F]
    a = np.einsum("ic,cd->icd", p, np.eye(c)) - np.einsum("ic,id->icd", p, p)
    h = np.einsum("icd,ij,ik->cjdk", a, za, za) / n
    penalty = np.zeros((c, k))
    penalty[:, :-1] = l2
    h = h.reshape(c * k, c * k) + np.diag(penalty.ravel())
    return h


def check_gradient(za, onehot, l2, rng):
    """Central differences at a random point: the analytic gradient must match the loss."""
    theta = rng.normal(0.0, 0.5, size=(onehot.shape[1], za.shape[1]))
    _, grad, _ = loss_and_gradient(theta, za, onehot, l2)
    eps = 1e-6
    numeric = np.zeros_like(theta)
    for idx in np.ndindex(theta.shape):
        plus, minus = theta.copy(), theta.copy()
        plus[idx] += eps
        minus[idx] -= eps
        numeric[idx] = (loss_and_gradient(plus, za, onehot, l2)[0] - loss_and_gradient(minus, za, onehot, l2)[0]) / (2 * eps)
    error = np.max(np.abs(numeric - grad))
    assert error < 1e-7, f"analytic gradient differs from finite differences by {error}"


def newton(za, onehot, l2, max_iter=100, tol=1e-14):
    theta = np.zeros((onehot.shape[1], za.shape[1]))
    loss, grad, p = loss_and_gradient(theta, za, onehot, l2)
    for iteration in range(1, max_iter + 1):
        # Minimum-norm solve: the Hessian is singular along a common shift of the bias.
        step = -np.linalg.lstsq(hessian(p, za, l2), grad.ravel(), rcond=None)[0].reshape(theta.shape)
        t = 1.0
        while True:   # backtracking (Armijo) for safety far from the optimum
            new_loss, new_grad, new_p = loss_and_gradient(theta + t * step, za, onehot, l2)
            if new_loss <= loss + 1e-4 * t * np.sum(grad * step) or t < 1e-10:
                break
            t *= 0.5
        theta, loss, grad, p = theta + t * step, new_loss, new_grad, new_p
        if np.max(np.abs(grad)) < tol:
            return theta, loss, grad, iteration
    return theta, loss, grad, max_iter


def main(argv):
    out = argv[1] if len(argv) > 1 else OUT_DEFAULT
    x32, labels = make_problem()
    x = x32.astype(np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    za = augmented((x - mean) / std)
    num_classes = len(CLASS_SIZES)
    onehot = np.eye(num_classes)[labels]

    check_gradient(za, onehot, L2, np.random.default_rng(1))
    theta, loss, grad, iterations = newton(za, onehot, L2)
    bias = theta[:, -1] - theta[:, -1].mean()
    weights = theta[:, :-1]
    # Centring the bias must not change the loss.
    theta_centred = np.hstack([weights, bias[:, None]])
    loss_centred = loss_and_gradient(theta_centred, za, onehot, L2)[0]
    assert abs(loss_centred - loss) < 1e-14, (loss_centred, loss)
    accuracy = float(np.mean(np.argmax(za @ theta.T, axis=1) == labels))

    fixture = {
        "description": "Newton fit of L2 multinomial logistic regression on standardized features "
        "(weights-tools/probe_reference.py); weights [C, F] row-major act on z = (x - mean) / std.",
        "l2": L2,
        "numRows": int(x.shape[0]),
        "numFeatures": NUM_FEATURES,
        "numClasses": num_classes,
        "features": [float(v) for v in x32.ravel()],
        "labels": [int(v) for v in labels],
        "mean": mean.tolist(),
        "std": std.tolist(),
        "weights": weights.ravel().tolist(),
        "bias": bias.tolist(),
        "loss": float(loss_centred),
        "gradientMaxAbs": float(np.max(np.abs(grad))),
        "newtonIterations": iterations,
        "trainAccuracy": accuracy,
    }
    with open(out, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print(f"wrote {out}: loss {loss_centred:.12f}, max |grad| {fixture['gradientMaxAbs']:.1e}, "
          f"{iterations} Newton iterations, train accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main(sys.argv)
