"""Helpers the sweep step scripts share: errors, the CSV files prepare.py writes and
train.py and select.py read, and reading and writing the steps' files.

The scripts run as `python3 src/NAME.py`, so src/ is on the import path. Every step
whose script imports this module lists src/sweep_common.py in its DAG `inputs`: the
step's sandbox then holds it, and editing it reruns the step."""
import csv
import json
import os
import sys

import numpy as np


def die(msg):
    """Exits with `SCRIPT.py: error: msg`, naming the step script that is running."""
    sys.exit(f"{os.path.basename(sys.argv[0])}: error: {msg}")


def write_csv(path, header, X, y, class_names):
    """Writes rows of features X with the class names of labels y (last), under header."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(header)
        for row, label in zip(X, y):
            out.writerow([repr(float(v)) for v in row] + [class_names[label]])


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
