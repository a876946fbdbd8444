#!/usr/bin/env python3
"""Train one sweep candidate (scaled logistic regression with a given C), score it on
the validation CSV, and write its model and metrics."""
import argparse
import pickle

from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sweep_common import die, json_bytes, read_csv, write_file


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
    write_file(a.model_out, pickle.dumps(model, protocol=5))
    write_file(a.metrics_out, json_bytes(metrics))
    print(f"train: {a.name} C={a.C}: validation accuracy {metrics['accuracy']:.4f}, "
          f"macro_f1 {metrics['macro_f1']:.4f} -> {a.model_out}, {a.metrics_out}")


if __name__ == "__main__":
    main()
