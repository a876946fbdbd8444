"""Helpers the iris step scripts share: errors, the CSV files prepare.py writes and
train.py and evaluate.py read, and reading and writing the steps' files.

The scripts run as `python3 src/NAME.py`, so src/ is on the import path. Every step
whose script imports this module lists src/iris_common.py in its DAG `inputs`: the
step's sandbox then holds it, and editing it reruns the step."""
import csv
import json
import os
import sys

import numpy as np

# The columns of the CSV files: the four features, then the label.
HEADER = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]


def die(msg):
    """Exits with `SCRIPT.py: error: msg`, naming the step script that is running."""
    sys.exit(f"{os.path.basename(sys.argv[0])}: error: {msg}")


def write_csv(path, X, y, class_names):
    """Writes rows of features X with the class names of labels y, under HEADER."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(HEADER)
        for row, label in zip(X, y):
            out.writerow([repr(float(v)) for v in row] + [class_names[label]])


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


def read_bytes(path):
    """The contents of `path`; exits naming it if it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        die(f"cannot read {path}: {e.strerror}")


def read_json(path):
    """The JSON value in `path`; exits naming it if it cannot be read or parsed."""
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        die(f"cannot read {path}: {e.strerror}")
    except ValueError as e:
        die(f"{path} is not valid JSON: {e}")


def json_bytes(obj):
    """`obj` as indented JSON with a final newline: how every step writes JSON."""
    return (json.dumps(obj, indent=2) + "\n").encode()


def write_file(path, data):
    """Writes the bytes `data` to `path`, creating its directory."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
