"""Five plain epochs of the chapter's [784, 30, 10] (mini-batch 10, eta 0.5,
lmbda 5.0, float32) on the engine ``auto`` picks, each epoch's seconds on
one line, headed by the source tree it imported nndl from.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE NNDL_DATA=... \
        PYTHONPATH=OTHER_TREE/src python benchmarks/plain_epoch.py

With ``PYTHONPATH`` pointing at another checkout's ``src`` (a ``git
worktree`` of an older commit), alternating runs compare two versions of
the engines in the same conditions.
"""

from threadpoolctl import threadpool_info

import nndl
from nndl.data import load_mnist
from nndl.network import Network
from nndl.optimizers import SGD
from nndl.regularization import L2
from nndl.training import train

training = load_mnist(quiet=True).training
net = Network([784, 30, 10], seed=0, dtype="float32")
state = train(net, training, 5, 10, SGD(0.5), regularization=L2(5.0))
blas = [(i["internal_api"], i.get("architecture"), i["num_threads"]) for i in threadpool_info()
        if i["user_api"] == "blas"]
print(nndl.__file__.split("/src/")[0], state.engine, "BLAS", blas,
      " ".join(f"{h['train_seconds']:.3f}" for h in state.history))
