#!/usr/bin/env python3
"""Pick the sweep candidate with the best validation score, score it on the test CSV,
and write it as the best model with its metrics (for the gate)."""
import argparse
import csv
import json
import os
import pickle
import sys

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support


def die(msg):
    sys.exit(f"select.py: error: {msg}")


def read_csv(path):
    """Features and labels of a CSV written by prepare.py (label last)."""
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
    return X, np.array([r[-1] for r in rows[1:]])


def read_candidate(metrics_path, model_path, metric):
    try:
        with open(metrics_path) as f:
            metrics = json.load(f)
        with open(model_path, "rb") as f:
            blob = f.read()
    except OSError as e:
        die(f"cannot read {e.filename}: {e.strerror}")
    except ValueError as e:
        die(f"{metrics_path} is not valid JSON: {e}")
    if not isinstance(metrics.get(metric), (int, float)):
        die(f"{metrics_path} has no numeric '{metric}'")
    return metrics, blob


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--candidate", nargs=2, action="append", required=True,
                   metavar=("METRICS", "MODEL"),
                   help="a candidate's metrics JSON and model; repeat for each candidate")
    p.add_argument("--metric", choices=["accuracy", "macro_f1"], required=True,
                   help="validation metric to maximise; ties go to the candidate listed first")
    p.add_argument("--test", required=True, help="test CSV")
    p.add_argument("--metrics-out", required=True)
    p.add_argument("--model-out", required=True)
    a = p.parse_args()

    candidates = [read_candidate(m, b, a.metric) for m, b in a.candidate]
    best_metrics, best_blob = max(candidates, key=lambda c: c[0][a.metric])  # first max wins
    X, y = read_csv(a.test)
    try:
        model = pickle.loads(best_blob)
    except Exception as e:  # anything unpickling can raise
        die(f"cannot load the model of {best_metrics.get('name')}: {e}")
    if not hasattr(model, "predict") or getattr(model, "n_features_in_", None) != X.shape[1]:
        die(f"the model of {best_metrics.get('name')} is not a classifier for the "
            f"{X.shape[1]} features of {a.test}")
    predicted = model.predict(X)
    labels = list(model.classes_)
    precision, recall, f1, support = precision_recall_fscore_support(
        y, predicted, labels=labels, zero_division=0)
    metrics = {
        "accuracy": round(float(accuracy_score(y, predicted)), 6),
        "macro_f1": round(float(f1_score(y, predicted, labels=labels, average="macro",
                                         zero_division=0)), 6),
        "n_test": int(len(y)),
        "per_class": {
            str(name): {"precision": round(float(precision[i]), 6),
                        "recall": round(float(recall[i]), 6),
                        "f1": round(float(f1[i]), 6),
                        "support": int(support[i])}
            for i, name in enumerate(labels)
        },
        "selected": {"name": best_metrics.get("name"), "params": best_metrics.get("params"),
                     "validation_" + a.metric: best_metrics[a.metric]},
        "candidates": {c.get("name", m): c[a.metric]
                       for (c, _), (m, _) in zip(candidates, a.candidate)},
    }
    for path, data in [(a.model_out, best_blob),
                       (a.metrics_out, (json.dumps(metrics, indent=2) + "\n").encode())]:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    print(f"select: {best_metrics.get('name')} (validation {a.metric} {best_metrics[a.metric]:.4f} "
          f"of {len(candidates)} candidates): test accuracy {metrics['accuracy']:.4f}, "
          f"macro_f1 {metrics['macro_f1']:.4f} -> {a.model_out}, {a.metrics_out}")


if __name__ == "__main__":
    main()
