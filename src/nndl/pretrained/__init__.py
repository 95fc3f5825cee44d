"""The shipped model: a small network trained on MNIST, inside the package,
so that ``nndl predict IMAGE`` and ``nndl playground`` work before anything
has been trained.

``model.npz`` holds the network's sizes, activations and cost and every
layer's weights and biases as float16 (half of float32's size; the rounding
is about 1 part in 2000).  ``provenance.json`` beside it holds the exact
``nndl train`` command that made it, the seed, the CPU and kernel it was
trained on, and the test accuracy before and after the rounding;
``metrics.json`` is that run's ``--metrics-out`` file.
``scripts/build_pretrained.py`` rebuilds all three, and
``tests/test_pretrained.py`` retrains from the recorded command and checks
that the rounded weights come out identical.
"""

import io
import json
from importlib import resources

import numpy as np

from ..errors import ModelFileError

MODEL, PROVENANCE, METRICS = "model.npz", "provenance.json", "metrics.json"
STORED_DTYPE = np.float16
NAME = "nndl's shipped model (nndl.pretrained)"


def _file(name):
    return resources.files(__name__).joinpath(name)


def provenance():
    """The shipped model's provenance (a dict; see the module docstring)."""
    return json.loads(_file(PROVENANCE).read_text(encoding="utf-8"))


def quantise(net):
    """The arrays ``model.npz`` stores for ``net``: its description as JSON
    text and each layer's weights (w0, w1, ...) and biases (b0, ...) as float16."""
    meta = {"sizes": list(net.sizes), "activations": [a.name for a in net.activations],
            "cost": net.cost.name}
    arrays = {"meta": np.array(json.dumps(meta))}
    for i, (w, b) in enumerate(zip(net.weights, net.biases)):
        arrays[f"w{i}"] = np.asarray(w).astype(STORED_DTYPE)
        arrays[f"b{i}"] = np.asarray(b).astype(STORED_DTYPE)
    return arrays


def to_bytes(net):
    """``model.npz``'s bytes for ``net`` (compressed, no pickles)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **quantise(net))
    return buf.getvalue()


def stored_arrays(data=None):
    """The arrays of a ``model.npz`` (the shipped one unless ``data``, bytes, is given)."""
    data = _file(MODEL).read_bytes() if data is None else data
    with np.load(io.BytesIO(data), allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def from_arrays(arrays, dtype="float32"):
    """Build the network ``quantise`` described, computing in ``dtype``."""
    from ..network import Network
    try:
        meta = json.loads(str(arrays["meta"]))
        net = Network(meta["sizes"], cost=meta["cost"], hidden=meta["activations"][:-1],
                      output=meta["activations"][-1], dtype=dtype)
        n = len(meta["sizes"]) - 1
        net.weights = [arrays[f"w{i}"].astype(dtype) for i in range(n)]
        net.biases = [arrays[f"b{i}"].astype(dtype) for i in range(n)]
    except (KeyError, ValueError, TypeError) as e:
        raise ModelFileError(f"the shipped model file is damaged ({e})") from None
    net.check_params()
    return net


def load(dtype="float32"):
    """The shipped network (weights widened from float16 to ``dtype``)."""
    return from_arrays(stored_arrays(), dtype)


def describe():
    """One line saying which model is used, for the command line."""
    p = provenance()
    sizes = "-".join(map(str, p["sizes"]))
    return (f"no model given: using nndl's shipped {sizes} network "
            f"({p['test_accuracy_float16']:.2%} on the MNIST test set; nndl.pretrained)")


def kernel_id():
    """What decides the trained bits: the compiled engine's target CPU and
    Numba version, and NumPy's BLAS kernel (threadpoolctl)."""
    import llvmlite.binding as llvm
    import numba
    from threadpoolctl import threadpool_info
    blas = sorted(f"{i['internal_api']} {i.get('version')} {i.get('architecture')}"
                  for i in threadpool_info() if i["user_api"] == "blas")
    return {"cpu": llvm.get_host_cpu_name(), "numba": numba.__version__, "blas": blas}
