#!/usr/bin/env python3
"""Train a random forest on the iris training CSV and pickle it."""
import argparse
import hashlib
import pickle

from sklearn.ensemble import RandomForestClassifier

from iris_common import read_csv, write_file


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
    write_file(a.model_out, blob)
    print(f"train: random forest (n_estimators={a.n_estimators}, max_depth={a.max_depth}, "
          f"seed={a.seed}) on {len(y)} rows, train accuracy {model.score(X, y):.3f} -> "
          f"{a.model_out} (sha256 {hashlib.sha256(blob).hexdigest()[:12]})")


if __name__ == "__main__":
    main()
