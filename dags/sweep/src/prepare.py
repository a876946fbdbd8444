#!/usr/bin/env python3
"""Split scikit-learn's bundled breast-cancer data set into train, validation and test CSVs."""
import argparse

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from sweep_common import write_csv


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--test-size", type=float, required=True,
                   help="fraction of all rows held out for the final test")
    p.add_argument("--val-size", type=float, required=True,
                   help="fraction of all rows held out to choose between sweep candidates")
    p.add_argument("--seed", type=int, required=True, help="seed of the shuffles")
    p.add_argument("--train-out", required=True)
    p.add_argument("--val-out", required=True)
    p.add_argument("--test-out", required=True)
    a = p.parse_args()
    if not (0 < a.test_size < 1 and 0 < a.val_size < 1 and a.test_size + a.val_size < 1):
        p.error(f"--test-size and --val-size must be in (0, 1) with a sum below 1, "
                f"got {a.test_size} and {a.val_size}")

    data = load_breast_cancer()
    n = len(data.target)
    n_test, n_val = round(a.test_size * n), round(a.val_size * n)
    try:
        X_rest, X_test, y_rest, y_test = train_test_split(
            data.data, data.target, test_size=n_test, random_state=a.seed, stratify=data.target)
        X_train, X_val, y_train, y_val = train_test_split(
            X_rest, y_rest, test_size=n_val, random_state=a.seed, stratify=y_rest)
    except ValueError as e:  # e.g. a split too small to hold both classes
        p.error(f"cannot split: {e}")
    header = [name.replace(" ", "_") for name in data.feature_names] + ["diagnosis"]
    for path, X, y in [(a.train_out, X_train, y_train), (a.val_out, X_val, y_val),
                       (a.test_out, X_test, y_test)]:
        write_csv(path, header, X, y, data.target_names)
    print(f"prepare: breast_cancer {len(y_train)}/{len(y_val)}/{len(y_test)} train/val/test rows "
          f"-> {a.train_out}, {a.val_out}, {a.test_out} (seed={a.seed})")


if __name__ == "__main__":
    main()
