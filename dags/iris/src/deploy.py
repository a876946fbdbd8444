#!/usr/bin/env python3
"""Copy a model into a deploy directory with a manifest of its digest and metrics."""
import argparse
import hashlib
import os

from iris_common import json_bytes, read_bytes, read_json


def write_atomically(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", required=True, help="model file to deploy")
    p.add_argument("--metrics", required=True, help="metrics JSON that passed the gate")
    p.add_argument("--out-dir", required=True, help="directory to deploy into")
    p.add_argument("--run-id", required=True, help="id of the run that made the model")
    a = p.parse_args()

    blob = read_bytes(a.model)
    metrics = read_json(a.metrics)
    digest = hashlib.sha256(blob).hexdigest()
    manifest = {
        "model": "model.pkl",
        "sha256": digest,
        "size_bytes": len(blob),
        "source": a.model,
        "run_id": a.run_id,
        "metrics": metrics,
    }
    os.makedirs(a.out_dir, exist_ok=True)
    # The model first, the manifest last: a manifest always describes a complete model.
    write_atomically(os.path.join(a.out_dir, "model.pkl"), blob)
    write_atomically(os.path.join(a.out_dir, "manifest.json"), json_bytes(manifest))
    print(f"deploy: {a.model} (sha256 {digest[:12]}, run {a.run_id}) -> "
          f"{os.path.join(a.out_dir, 'model.pkl')} + manifest.json")


if __name__ == "__main__":
    main()
