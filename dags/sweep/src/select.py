#!/usr/bin/env python3
"""Pick the sweep candidate with the best validation score, score it on the test CSV,
and write it as the best model with its metrics (for the gate)."""
import argparse
import pickle

from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from sweep_common import die, json_bytes, read_bytes, read_csv, read_json, write_file


def read_candidate(metrics_path, model_path, metric):
    metrics = read_json(metrics_path)
    blob = read_bytes(model_path)
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
    X, y, _ = read_csv(a.test)
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
    write_file(a.model_out, best_blob)
    write_file(a.metrics_out, json_bytes(metrics))
    print(f"select: {best_metrics.get('name')} (validation {a.metric} {best_metrics[a.metric]:.4f} "
          f"of {len(candidates)} candidates): test accuracy {metrics['accuracy']:.4f}, "
          f"macro_f1 {metrics['macro_f1']:.4f} -> {a.model_out}, {a.metrics_out}")


if __name__ == "__main__":
    main()
