#!/usr/bin/env python3
"""Train one sweep candidate (scaled logistic regression with a given C), score it on
the validation CSV, and write its model and metrics."""
import argparse
import csv
import json
import os
import pickle
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def die(msg):
    sys.exit(f"train.py: error: {msg}")


def read_csv(path):
    """Features, labels and header of a CSV written by prepare.py (label last)."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        die(f"cannot read {path}: {e.strerror}")
    if len(rows) < 2 or any(len(r) != len(rows[0]) for r in rows[1:]):
        die(f"{path}: no data rows, or rows of unequal length")
    try:
        X = np.array([[float(v) for v in r[:-1]] for r in rows[1:]])
    except ValueError as e:
        die(f"{path}: {e}")
    return X, np.array([r[-1] for r in rows[1:]]), rows[0]


def write(path, data):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--name", required=True, help="candidate name, recorded in the metrics")
    p.add_argument("--C", type=float, required=True, help="inverse regularisation strength, > 0")
    p.add_argument("--max-iter", type=int, required=True, help="solver iteration limit")
    p.add_argument("--train", required=True, help="training CSV")
    p.add_argument("--val", required=True, help="validation CSV")
    p.add_argument("--model-out", required=True)
    p.add_argument("--metrics-out", required=True)
    a = p.parse_args()
    if a.C <= 0 or a.max_iter < 1:
        p.error("--C must be > 0 and --max-iter >= 1")

    X, y, header = read_csv(a.train)
    X_val, y_val, val_header = read_csv(a.val)
    if val_header != header:
        die(f"{a.val} and {a.train} have different columns")
    # lbfgs is deterministic: the same inputs give a byte-identical pickle.
    model = make_pipeline(StandardScaler(), LogisticRegression(C=a.C, max_iter=a.max_iter))
    model.fit(X, y)
    predicted = model.predict(X_val)
    metrics = {
        "name": a.name,
        "params": {"C": a.C, "max_iter": a.max_iter},
        "split": "validation",
        "n": int(len(y_val)),
        "accuracy": round(float(accuracy_score(y_val, predicted)), 6),
        "macro_f1": round(float(f1_score(y_val, predicted, average="macro")), 6),
    }
    write(a.model_out, pickle.dumps(model, protocol=5))
    write(a.metrics_out, (json.dumps(metrics, indent=2) + "\n").encode())
    print(f"train: {a.name} C={a.C}: validation accuracy {metrics['accuracy']:.4f}, "
          f"macro_f1 {metrics['macro_f1']:.4f} -> {a.model_out}, {a.metrics_out}")


if __name__ == "__main__":
    main()
