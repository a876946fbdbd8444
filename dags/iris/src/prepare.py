#!/usr/bin/env python3
"""Split scikit-learn's bundled iris data set into train and test CSV files."""
import argparse

from sklearn.datasets import load_iris
from sklearn.model_selection import train_test_split

from iris_common import write_csv


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--test-size", type=float, required=True,
                   help="fraction of rows held out for testing, 0 < x < 1")
    p.add_argument("--seed", type=int, required=True, help="seed of the shuffle")
    p.add_argument("--train-out", required=True, help="CSV file to write the training rows to")
    p.add_argument("--test-out", required=True, help="CSV file to write the test rows to")
    a = p.parse_args()
    if not 0 < a.test_size < 1:
        p.error(f"--test-size must be between 0 and 1 (exclusive), got {a.test_size}")

    iris = load_iris()
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            iris.data, iris.target, test_size=a.test_size, random_state=a.seed,
            stratify=iris.target)
    except ValueError as e:  # e.g. a test set too small to hold every class
        p.error(f"cannot split with --test-size {a.test_size}: {e}")
    write_csv(a.train_out, X_train, y_train, iris.target_names)
    write_csv(a.test_out, X_test, y_test, iris.target_names)
    print(f"prepare: {len(y_train)} train rows -> {a.train_out}, {len(y_test)} test rows -> "
          f"{a.test_out} (test_size={a.test_size}, seed={a.seed})")


if __name__ == "__main__":
    main()
