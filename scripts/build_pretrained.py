"""Rebuild the shipped model (src/nndl/pretrained/): run the recorded
``nndl train`` command, round the weights to float16, measure the test
accuracy of the rounded network, and write model.npz, metrics.json and
provenance.json.

    NNDL_DATA=/path/to/mnist.pkl.gz python scripts/build_pretrained.py
"""

import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from nndl import pretrained
from nndl.data import load_dataset
from nndl.persistence import atomic_write_bytes, atomic_write_text, load

COMMAND = ("nndl train --sizes 784,200,10 --activation relu --output softmax --epochs 20 "
           "--eta 0.1 --lmbda 5 --lr-schedule step:1:0.9 --seed 0 "
           "--save model.json --metrics-out metrics.json")
HERE = Path(pretrained.__file__).parent


def main():
    with tempfile.TemporaryDirectory() as tmp:
        argv = shlex.split(COMMAND)
        argv[0] = str(Path(sys.executable).with_name("nndl"))
        subprocess.run(argv, cwd=tmp, check=True)
        net = load(Path(tmp, "model.json"))
        metrics = json.loads(Path(tmp, "metrics.json").read_text())
    data = pretrained.to_bytes(net)
    rounded = pretrained.from_arrays(pretrained.stored_arrays(data))
    test = load_dataset("mnist").test
    correct = rounded.accuracy(test.images, test.labels)
    prov = {"command": COMMAND, "seed": 0, "sizes": list(net.sizes),
            "stored_as": "float16 weights and biases in a compressed .npz",
            "stored_bytes": len(data),
            "test_accuracy_float32": metrics["test_accuracy"],
            "test_accuracy_float16": correct / len(test),
            "trained_on": pretrained.kernel_id(),
            "rebuild": "NNDL_DATA=... python scripts/build_pretrained.py"}
    atomic_write_bytes(HERE / pretrained.MODEL, data)
    atomic_write_text(HERE / pretrained.METRICS, json.dumps(metrics, indent=2))
    atomic_write_text(HERE / pretrained.PROVENANCE, json.dumps(prov, indent=2) + "\n")
    print(json.dumps(prov, indent=2))


if __name__ == "__main__":
    main()
