"""What a job leaves behind in a warm worker, undone before the next job, so that a job writes the same bytes
whether it is the first or the fiftieth in its worker.

- Keras: its global name counters (a second `Dense` is `dense_1`) and, on TensorFlow, the default graph.
- torch: compiled-graph caches (`torch._dynamo`, which `torch.export` fills), the thread count a job set, the
  default dtype, grad mode.
- The process: working directory and environment as the worker started, modules a job imported from user
  code (a factory's package, `--import`), then a garbage collection and the freed heap handed back.

The collection must stay cheap: with TensorFlow loaded a full one walks ~850,000 objects (0.36 s, more than a
small job's conversion). So what survives it is frozen (`gc.freeze`): the next collection walks only what the
next job made. A job's object that outlives the job and only later becomes a reference cycle is not collected:
`--worker-memory` and `--worker-jobs` bound that.
Only frameworks the worker has imported are touched: a reset never imports one.
"""

from __future__ import annotations

import gc
import os
import sys


class Baseline:
    """The worker's state when it started, to return to after each job."""

    def __init__(self) -> None:
        self.cwd = os.getcwd()
        self.environ = dict(os.environ)
        self.modules = set(sys.modules)
        # torch's own start-up settings: its threads from OMP_NUM_THREADS (batch sets it), float32
        threads = os.environ.get("OMP_NUM_THREADS", "")
        self.torch_threads = int(threads) if threads.isdigit() and int(threads) > 0 else None
        self.roots = installed_roots()

    def reset(self) -> None:
        _keras()
        self._torch()
        if os.getcwd() != self.cwd:
            os.chdir(self.cwd)
        if dict(os.environ) != self.environ:
            os.environ.clear()
            os.environ.update(self.environ)
        self._user_modules()
        gc.collect()
        gc.freeze()
        from modelport.core.memory import give_back

        give_back()

    def _torch(self) -> None:
        torch = sys.modules.get("torch")
        if torch is None:
            return
        if "torch._dynamo" in sys.modules:
            sys.modules["torch._dynamo"].reset()
        if self.torch_threads and torch.get_num_threads() != self.torch_threads:
            torch.set_num_threads(self.torch_threads)
        torch.set_default_dtype(torch.float32)
        torch.set_grad_enabled(True)

    def _user_modules(self) -> None:
        """Modules imported during the job from outside the Python installation: user code, which a later job
        may want to import afresh (its file may be another with the same name)."""
        for name in [n for n in sys.modules if n not in self.modules]:
            path = getattr(sys.modules[name], "__file__", None) or ""
            if name.startswith(("_modelport_factory_", "_modelport_user_")) or (
                    path and not os.path.realpath(path).startswith(self.roots)):
                del sys.modules[name]
        self.modules |= set(sys.modules)


def installed_roots() -> tuple[str, ...]:
    """Where installed code lives: the Python installation, every site-packages (a `--user` install too), the
    sysconfig paths, modelport itself, and every sys.path entry the worker started with except the working
    directory (PYTHONPATH included). A module from anywhere else (the working directory, a factory's folder)
    is user code."""
    import site
    import sysconfig

    cwd = os.path.realpath(os.getcwd())
    places = {sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values(),
              os.path.dirname(os.path.dirname(os.path.realpath(__file__)))}
    try:
        places.update(site.getsitepackages())
        places.add(site.getusersitepackages())
    except AttributeError:  # a virtualenv's old site module
        pass
    places.update(p for p in sys.path if p and os.path.realpath(p) != cwd)
    return tuple(sorted({os.path.join(os.path.realpath(p), "") for p in places if p}))


def _keras() -> None:
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        try:  # name counters; on TensorFlow, the default graph too (its own full collection skipped: ours follows)
            keras.backend.clear_session(free_memory=False)
        except TypeError:  # a Keras without the argument
            keras.backend.clear_session()
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "compat"):
        tf.compat.v1.reset_default_graph()
