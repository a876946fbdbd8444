#!/usr/bin/env python3
"""Train a random forest on the iris training CSV and pickle it."""
import argparse
import csv
import hashlib
import os
import pickle
import sys

import numpy as np
from sklearn.ensemble import RandomForestClassifier

HEADER = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]


def die(msg):
    sys.exit(f"train.py: error: {msg}")


def read_csv(path):
    """Features and labels of a CSV written by prepare.py."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as e:
        die(f"cannot read {path}: {e.strerror}")
    if not rows or rows[0] != HEADER:
        die(f"{path}: expected the header {','.join(HEADER)}")
    if len(rows) < 2 or any(len(r) != len(HEADER) for r in rows[1:]):
        die(f"{path}: no data rows, or a row without {len(HEADER)} fields")
    try:
        X = np.array([[float(v) for v in r[:-1]] for r in rows[1:]])
    except ValueError as e:
        die(f"{path}: {e}")
    return X, np.array([r[-1] for r in rows[1:]])


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--train", required=True, help="training CSV")
    p.add_argument("--model-out", required=True, help="pickle file to write the model to")
    p.add_argument("--n-estimators", type=int, required=True, help="number of trees, >= 1")
    p.add_argument("--max-depth", type=int, required=True, help="depth limit; 0 = unlimited")
    p.add_argument("--seed", type=int, required=True, help="seed of the forest")
    a = p.parse_args()
    if a.n_estimators < 1 or a.max_depth < 0:
        p.error("--n-estimators must be >= 1 and --max-depth >= 0")

    X, y = read_csv(a.train)
    # n_jobs=1 and a fixed random_state: the same inputs give a byte-identical pickle.
    model = RandomForestClassifier(n_estimators=a.n_estimators, max_depth=a.max_depth or None,
                                   random_state=a.seed, n_jobs=1)
    model.fit(X, y)
    blob = pickle.dumps(model, protocol=5)
    os.makedirs(os.path.dirname(a.model_out) or ".", exist_ok=True)
    with open(a.model_out, "wb") as f:
        f.write(blob)
    print(f"train: random forest (n_estimators={a.n_estimators}, max_depth={a.max_depth}, "
          f"seed={a.seed}) on {len(y)} rows, train accuracy {model.score(X, y):.3f} -> "
          f"{a.model_out} (sha256 {hashlib.sha256(blob).hexdigest()[:12]})")


if __name__ == "__main__":
    main()
