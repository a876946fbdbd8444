#!/usr/bin/env python3
"""Score the pickled model on the test CSV and write metrics JSON for the gate."""
import argparse
import pickle

from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from iris_common import die, json_bytes, read_csv, write_file


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, help="pickled model written by train.py")
    p.add_argument("--test", required=True, help="test CSV")
    p.add_argument("--metrics-out", required=True, help="JSON file to write the metrics to")
    a = p.parse_args()

    try:
        with open(a.model, "rb") as f:
            model = pickle.load(f)
    except Exception as e:  # OSError, or anything unpickling can raise
        die(f"cannot load the model {a.model}: {e}")
    X, y = read_csv(a.test)
    if not hasattr(model, "predict") or getattr(model, "n_features_in_", None) != X.shape[1]:
        die(f"{a.model} is not a classifier for the {X.shape[1]} features of {a.test}")
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
    }
    write_file(a.metrics_out, json_bytes(metrics))
    print(f"evaluate: accuracy {metrics['accuracy']:.4f}, macro_f1 {metrics['macro_f1']:.4f} "
          f"on {len(y)} test rows -> {a.metrics_out}")


if __name__ == "__main__":
    main()
