"""Hyper-parameter search for ``nndl train`` options, with Optuna as the engine.

* ``space``     -- the search space file: which train flags, which ranges
* ``objective`` -- one trial: a generated ``nndl train`` command line, trained
                   with pruning on validation accuracy and a divergence guard
* ``study``     -- storage (SQLite, PostgreSQL, ...), samplers, pruners, the run
* ``report``    -- the ranked table, the best configuration, plots
* ``command``   -- ``nndl search``
"""
