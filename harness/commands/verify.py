"""`python -m harness verify MODULE:ATTR`: does a Keras layer behave as Batch Renormalization?

Why behavioural checks: the known broken implementations (r and d learned as
weights, gradients through r and d, a schedule frozen at trace time, epsilon
counted twice, moving statistics that do not converge, state lost on save) all
look plausible when read, so we train the layer as users do, inside a compiled
`tf.function` step with a GradientTape, and test what Algorithm 1 implies.

Inputs are conv-shaped (16, 4, 4, 4) batches from a fixed population whose
four channels have means 2, -1, 0.5, 0.1 and standard deviations 3, 1, 0.3,
0.03 (the last is as small as the usual epsilon, so an epsilon counted twice
shows). Gradients are computed but not applied, so gamma and beta stay at their
initial values.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from harness.commands.numbers import MAX_SEED, MAX_STEPS, integer
from harness.errors import UsageError
from harness.runtime import heavy

if TYPE_CHECKING:
    import argparse
    from multiprocessing.connection import Connection

    import numpy as np
    from numpy.typing import NDArray

# one check's outcome: (passed, reason)
CheckResult = tuple[bool, str]

CHECKS = {
    "affine_per_channel": "training output per channel is an affine map of the batch-normalized input",
    "inference_batch_independent": "inference output for one example does not depend on the rest of the batch",
    "train_matches_inference": "with converged statistics, training-mode output equals inference-mode output",
    "gradient_treats_r_d_as_constants": "input gradient treats r and d as constants; r and d are not weights",
    "schedule_advances_compiled": "state and schedule advance inside a compiled training loop as in eager mode",
    "moving_stats_converge": "moving statistics converge to the population statistics",
    "save_load_round_trip": "a .keras save/load round trip keeps inference and training outputs",
}

MEANS = (2.0, -1.0, 0.5, 0.1)
STDS = (3.0, 1.0, 0.3, 0.03)
SHAPE = (16, 4, 4, 4)
FIRST_CHUNK = 600  # momentum 0.99 leaves 0.2% of the initial gap after 600 steps
CHUNK = 400
EAGER_STEPS = 60  # compiled vs eager comparison; a schedule must move within this many steps to be seen


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `verify` arguments to `parser`."""
    parser.add_argument(
        "target",
        metavar="MODULE:ATTR",
        help="a layer class or zero-argument factory, e.g. harness.norms:BatchRenormalization",
    )
    parser.add_argument(
        "--steps",
        type=integer(FIRST_CHUNK, MAX_STEPS),
        default=3000,
        help="training-step budget for the statistics to converge and any warm-up/ramp to finish (default 3000)",
    )
    parser.add_argument("--check", action="append", choices=sorted(CHECKS), help="run only this check (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--seed", type=integer(0, MAX_SEED), default=0, help="seed of the synthetic data (default 0)")


def _split_target(target: str) -> tuple[str, str]:
    """MODULE:ATTR -> (module, attr), or a UsageError; executes nothing."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"expected MODULE:ATTR, got {target!r}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    return module_name, attr


def load_factory(target: str, on_stage: Callable[[str], Any] | None = None) -> Callable[[], Any]:
    """Resolve MODULE:ATTR to a zero-argument callable returning a fresh Keras layer (UsageError otherwise).

    This executes the user's code (the module's import and the factory); `on_stage(text)`, if given, is told
    what is about to run, so a crash can be blamed on it.
    """
    module_name, attr = _split_target(target)
    on_stage = on_stage or (lambda text: None)
    heavy.tensorflow()  # first, silenced: the user's module may import TensorFlow or Keras itself
    on_stage(f"importing module {module_name}")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as error:
        raise UsageError(f"cannot import module {module_name!r}: {error}") from None
    except (Exception, SystemExit) as error:  # noqa: BLE001 - the user's module failed while importing
        where = f" (line {error.lineno})" if isinstance(error, SyntaxError) and error.lineno else ""
        raise UsageError(f"cannot import module {module_name!r}: {type(error).__name__}{where}: "
                         f"{_first_line(error)}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    keras = heavy.keras()

    if isinstance(obj, type) and not issubclass(obj, keras.layers.Layer):
        raise UsageError(f"{target} is a class but not a keras.layers.Layer")
    if not callable(obj) or inspect.isbuiltin(obj) or (isinstance(obj, type) and obj.__module__ == "builtins"):
        # a built-in (os:abort, sys:exit) is never a layer factory, and calling one may end this process
        raise UsageError(f"{target} is neither a layer class nor a zero-argument factory")
    on_stage(f"calling {target}()")
    try:
        sample = obj()
    except (Exception, SystemExit) as error:  # the user's factory: any failure (sys.exit too) is a usage problem
        raise UsageError(f"calling {target}() failed: {type(error).__name__}: {_first_line(error)}") from None
    if not isinstance(sample, keras.layers.Layer):
        raise UsageError(f"{target}() returned {type(sample).__name__}, not a keras.layers.Layer")
    return obj


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


class Verifier:
    """Runs the checks on layers made by `factory`; each check returns (passed, reason)."""

    def __init__(self, factory: Callable[[], Any], steps: int = 3000, seed: int = 0) -> None:
        """Checks of layers from `factory`, training at most `steps` steps on data seeded by `seed`."""
        import numpy as np

        self.tf = heavy.tensorflow()

        self.np = np
        self.factory = factory
        self.steps = steps
        self.seed = seed
        self.means = np.array(MEANS)
        self.stds = np.array(STDS)
        self._trained: dict[str, Any] | None = None

    # ------------------------------------------------------------ data and compiled steps

    def data(self, index: Any, stream: int = 0) -> Any:
        """Batch `index` of a population stream (stateless, so compiled and eager runs see the same data)."""
        tf = self.tf
        z = tf.random.stateless_normal(
            SHAPE, seed=tf.stack([tf.cast(self.seed * 1000 + stream, tf.int64), tf.cast(index, tf.int64)])
        )
        return z * tf.constant(STDS, tf.float32) + tf.constant(MEANS, tf.float32)

    def upstream(self, index: Any) -> Any:
        """Batch `index` of the standard-normal upstream gradient stream the training loss weights outputs by."""
        tf = self.tf
        return tf.random.stateless_normal(
            SHAPE, seed=tf.stack([tf.constant(self.seed * 1000 + 999, tf.int64), tf.cast(index, tf.int64)])
        )

    def step_fn(self, layer: Any) -> Callable[[Any], Any]:
        """One training step as users run it: forward in training mode under a GradientTape."""
        tf = self.tf
        variables = list(layer.trainable_variables)

        def step(i: Any) -> Any:
            x = self.data(i)
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=True)
                loss = tf.reduce_mean(y * self.upstream(i))
            grads = tape.gradient(loss, [x] + variables)
            return tf.add_n([tf.reduce_sum(tf.abs(g)) for g in grads if g is not None])

        return step

    def compiled_trainer(self, layer: Any) -> Callable[[Any, Any], Any]:
        """A `tf.function` running steps start..start+n-1 of `step_fn(layer)` in a while loop."""
        tf = self.tf
        step = self.step_fn(layer)

        @tf.function  # autograph on, as in Keras fit
        def train(start: Any, n: Any) -> Any:
            def body(i: Any, total: Any) -> tuple[Any, Any]:
                return i + 1, total + step(i)

            return tf.while_loop(lambda i, _: i < start + n, body, (start, tf.constant(0.0)))[1]

        return train

    def fresh(self) -> Any:
        """A new layer from the factory, built by one inference call."""
        layer = self.factory()
        layer(self.data(0, stream=7), training=False)  # build
        return layer

    def snapshot(self, layer: Any) -> list[Any]:
        """The values of all of `layer`'s weights."""
        return [v.numpy() for v in layer.weights]

    def restore(self, layer: Any, values: list[Any]) -> None:
        """Assign `values` (a `snapshot`) back to `layer`'s weights."""
        for variable, value in zip(layer.weights, values, strict=False):
            variable.assign(value)

    def probes(self, layer: Any) -> tuple[Callable[[Any], Any], Callable[..., Any]]:
        """Compiled inference and (state-restoring) training calls for `layer`."""
        tf = self.tf
        spec = tf.TensorSpec(SHAPE, tf.float32)
        variables = list(layer.trainable_variables)
        infer = tf.function(lambda x: layer(x, training=False), input_signature=[spec])

        @tf.function(input_signature=[spec, spec])
        def train_call(x: Any, upstream: Any) -> tuple[Any, Any, list[Any]]:
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=True)
                loss = tf.reduce_sum(y * upstream)
            grads = tape.gradient(loss, [x] + variables)
            return y, grads[0], [tf.zeros([]) if g is None else g for g in grads[1:]]

        def train(x: Any, upstream: Any = None) -> tuple[Any, Any, list[Any]]:
            saved = self.snapshot(layer)
            up = tf.ones(SHAPE) if upstream is None else tf.constant(upstream, tf.float32)
            y, dx, dvars = train_call(tf.constant(x, tf.float32), up)
            self.restore(layer, saved)
            return y.numpy().astype("float64"), dx.numpy().astype("float64"), [g.numpy() for g in dvars]

        return (lambda x: infer(tf.constant(x, tf.float32)).numpy().astype("float64")), train

    def probe_batch(self, index: int, stream: int = 1) -> Any:
        """Batch `index` of probe stream `stream`, as a NumPy array."""
        return self.data(index, stream=stream).numpy()

    # ------------------------------------------------------------ the converged layer shared by several checks

    def trained(self) -> dict[str, Any]:
        """Train one layer until training and inference outputs agree or the step budget is spent."""
        if self._trained is None:
            layer = self.fresh()
            train = self.compiled_trainer(layer)
            infer, train_probe = self.probes(layer)
            done = 0
            mismatch = None
            while done < self.steps:
                n = min(FIRST_CHUNK if done == 0 else CHUNK, self.steps - done)
                train(self.tf.constant(done, self.tf.int64), self.tf.constant(n, self.tf.int64)).numpy()
                done += n
                mismatch = self.train_inference_mismatch(infer, train_probe)
                if mismatch < 1e-3:
                    break
            self._trained = dict(
                layer=layer, infer=infer, train=train_probe, steps=done, mismatch=mismatch, trainer=train
            )
        return self._trained

    def train_inference_mismatch(self, infer: Callable[[Any], Any], train_probe: Callable[..., Any]) -> float:
        """Worst per-channel relative L2 difference between training- and inference-mode outputs.

        (Training-mode outputs use the statistics before the step's update.)
        """
        np = self.np
        worst = 0.0
        for k in range(3):
            x = self.probe_batch(k)
            y_inf = infer(x)
            y_train = train_probe(x)[0]
            diff = np.sqrt(((y_train - y_inf) ** 2).sum(axis=(0, 1, 2)))
            norm = np.sqrt((y_inf**2).sum(axis=(0, 1, 2))) + 1e-12
            worst = max(worst, float((diff / norm).max()))
        return worst

    def affine_fit(self, x: NDArray[np.float64], y: NDArray[np.float64]
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Per-channel least squares y = slope * x + intercept; returns slope, intercept, relative residual."""
        np = self.np
        slopes: list[float] = []
        intercepts: list[float] = []
        residuals: list[float] = []
        for c in range(x.shape[-1]):
            xc, yc = x[..., c].ravel(), y[..., c].ravel()
            design = np.stack([xc, np.ones_like(xc)], axis=1)
            (slope, intercept), *_ = np.linalg.lstsq(design, yc, rcond=None)
            rms = np.sqrt(np.mean((design @ [slope, intercept] - yc) ** 2))
            residuals.append(rms / (np.std(yc) + 1e-12))
            slopes.append(slope)
            intercepts.append(intercept)
        return np.array(slopes), np.array(intercepts), np.array(residuals)

    # ------------------------------------------------------------ checks

    def check_affine_per_channel(self) -> CheckResult:
        """Training output per channel is an affine map of the input (also off-distribution)."""
        t = self.trained()
        np = self.np
        worst = 0.0
        for k, (scale, shift) in enumerate(((1.0, 0.0), (2.0, 1.0), (0.5, -3.0))):
            x = self.probe_batch(10 + k) * scale + shift  # off-distribution too, so r and d are far from 1 and 0
            y = t["train"](x)[0]
            if not np.all(np.isfinite(y)):
                return False, "training output has non-finite values"
            worst = max(worst, float(self.affine_fit(x, y)[2].max()))
        if worst > 1e-3:
            return False, f"training output is not affine per channel (relative residual {worst:.2g} > 1e-3)"
        return True, f"affine per channel (worst relative residual {worst:.1g})"

    def check_inference_batch_independent(self) -> CheckResult:
        """The inference output of an example does not depend on the rest of its batch."""
        t = self.trained()
        np = self.np
        a = self.probe_batch(20)
        b = self.probe_batch(21) * 3 + 5
        b[0] = a[0]
        ya, yb = t["infer"](a)[0], t["infer"](b)[0]
        diff = float(np.abs(ya - yb).max() / (np.abs(ya).max() + 1e-12))
        if diff > 1e-5:
            return False, f"inference output of an example changes with the rest of the batch (relative {diff:.2g})"
        return True, f"example 0 gives the same inference output in two different batches (relative diff {diff:.1g})"

    def check_train_matches_inference(self) -> CheckResult:
        """After training on i.i.d. data, training-mode output equals inference-mode output."""
        t = self.trained()
        if t["mismatch"] < 1e-3:
            return True, f"relative difference {t['mismatch']:.1g} after {t['steps']} steps on i.i.d. data"
        return False, (
            f"training-mode output differs from inference-mode output by {t['mismatch']:.2g} "
            "(relative, worst channel) "
            f"after {t['steps']} steps on i.i.d. data (plain BN fails this way too; "
            "a layer with a longer warm-up needs a larger --steps)"
        )

    def check_gradient_treats_r_d_as_constants(self) -> CheckResult:
        """The input gradient is that of BN with r and d held constant, and r and d are not weights."""
        t = self.trained()
        np = self.np
        layer = t["layer"]
        x = self.probe_batch(30)
        n = x.shape[0] * x.shape[1] * x.shape[2]
        # Sum of outputs per channel: constant in x when d is a constant (BN is shift invariant).
        y, dx, dvars = t["train"](x)
        slope = self.affine_fit(x, y)[0]
        shift = np.abs(dx.sum(axis=(0, 1, 2))) / (n * np.abs(slope) + 1e-12)
        # Output projected on the normalized input: scale invariant (up to epsilon) when r is a constant.
        mean, std = x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2))
        z = (x - mean) / std
        y, dx_scale, _ = t["train"](x, upstream=z)
        scale = np.abs((dx_scale * (x - mean)).sum(axis=(0, 1, 2))) / (n * np.abs(slope) * std + 1e-12)
        big = np.array(STDS) >= 1.0  # channels whose variance dwarfs any usual epsilon
        learned = [
            v.path if hasattr(v, "path") else v.name
            for v, g in zip(layer.trainable_variables, dvars, strict=False)
            if np.any(g != 0)
        ]
        if len(learned) > 2:
            return (
                False,
                f"{len(learned)} trainable weights get gradients ({', '.join(learned)}): r and d must not be weights",
            )
        if shift.max() > 1e-2:
            return (
                False,
                "gradient flows through d: the output sum moves with a shift of the input "
                f"(relative {shift.max():.2g})",
            )
        if scale[big].max() > 5e-2:
            return (
                False,
                "gradient flows through r: the output moves with a rescaling of the input "
                f"(relative {scale[big].max():.2g})",
            )
        return (
            True,
            f"BN gradient with constant r, d (shift {shift.max():.1g}, scale {scale[big].max():.1g}); "
            f"trainable weights with gradients: {len(learned)}",
        )

    def check_schedule_advances_compiled(self) -> CheckResult:
        """State and schedule advance the same in a compiled training loop as in eager training."""
        np = self.np
        tf = self.tf
        n = EAGER_STEPS
        compiled_layer = self.fresh()
        eager_layer = self.fresh()
        eager_layer.set_weights(compiled_layer.get_weights())
        self.compiled_trainer(compiled_layer)(tf.constant(0, tf.int64), tf.constant(n, tf.int64)).numpy()
        # Eager reference: forward training calls only (a tape changes no state, and eager steps are slow).
        for i in range(n):
            eager_layer(self.data(tf.constant(i, tf.int64)), training=True)
        worst_var = 0.0
        for a, b in zip(compiled_layer.get_weights(), eager_layer.get_weights(), strict=False):
            a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
            worst_var = max(worst_var, float(np.abs(a - b).max() / (np.abs(b).max() + 1e-6)) if a.size else 0.0)
        worst_out = 0.0
        for k in range(2):
            x = self.probe_batch(40 + k) * 1.5 + 0.5
            outs: list[Any] = []
            for layer in (compiled_layer, eager_layer):
                saved = self.snapshot(layer)
                outs.append(layer(tf.constant(x), training=True).numpy().astype(np.float64))
                self.restore(layer, saved)
            worst_out = max(worst_out, float(np.abs(outs[0] - outs[1]).max() / (np.abs(outs[1]).max() + 1e-12)))
        if worst_var > 1e-3 or worst_out > 1e-3:
            return False, (
                f"after {n} steps, compiled training left the layer different from eager training "
                f"(variables {worst_var:.2g}, training output {worst_out:.2g}): "
                "its schedule or state is frozen at trace time"
            )
        return (
            True,
            f"compiled and eager training agree after {n} steps (variables {worst_var:.1g}, outputs {worst_out:.1g})",
        )

    def _affine_params(self, layer: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        np = self.np
        gamma = getattr(layer, "gamma", None)
        beta = getattr(layer, "beta", None)
        gamma = np.ones(len(STDS)) if gamma is None else np.asarray(gamma.numpy(), np.float64)
        beta = np.zeros(len(STDS)) if beta is None else np.asarray(beta.numpy(), np.float64)
        return gamma, beta

    def check_moving_stats_converge(self) -> CheckResult:
        """Inference statistics match those of the population within 3% (mean in std units, std relative)."""
        t = self.trained()
        np = self.np
        layer = t["layer"]
        gamma, beta = self._affine_params(layer)
        used = np.array(STDS) >= 0.3  # epsilon would bias sigma on the tiny channel
        worst_mean = worst_std = 0.0
        done = t["steps"]
        for k in range(5):
            if k:
                t["trainer"](self.tf.constant(done, self.tf.int64), self.tf.constant(40, self.tf.int64)).numpy()
                done += 40
            x = self.probe_batch(50 + k)
            slope, intercept, _ = self.affine_fit(x, t["infer"](x))
            sigma = gamma / slope  # inference: y = gamma * (x - mu) / sigma + beta
            mu = (beta - intercept) / slope
            worst_mean = max(worst_mean, float((np.abs(mu - self.means) / self.stds)[used].max()))
            worst_std = max(worst_std, float(np.abs(sigma / self.stds - 1)[used].max()))
        t["steps"] = done
        if worst_mean > 0.03 or worst_std > 0.03:
            return False, (
                f"inference statistics miss the population: mean off by {worst_mean:.2g} std, "
                f"std off by {worst_std:.1%} (worst over 5 checkpoints, tolerance 3%)"
            )
        return True, f"inference mean within {worst_mean:.2g} std and std within {worst_std:.1%} of the population"

    def check_save_load_round_trip(self) -> CheckResult:
        """A .keras save/load round trip keeps inference and training outputs."""
        keras = heavy.keras()

        np = self.np
        t = self.trained()
        layer = t["layer"]
        model = keras.Sequential([keras.Input(SHAPE[1:], batch_size=SHAPE[0]), layer])
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "layer.keras")
            try:
                model.save(path)
                loaded = keras.saving.load_model(
                    path, custom_objects={type(layer).__name__: type(layer)}, compile=False
                )
            except Exception as error:  # any failure to save or load is this check's failure
                return False, f"save/load failed: {type(error).__name__}: {_first_line(error)}"
        loaded_layer = loaded.layers[-1]
        x = self.probe_batch(60) * 1.5 + 0.5
        worst = 0.0
        for training in (False, True):
            outs: list[Any] = []
            for each in (layer, loaded_layer):
                saved = self.snapshot(each)
                outs.append(each(self.tf.constant(x), training=training).numpy().astype(np.float64))
                self.restore(each, saved)
            worst = max(worst, float(np.abs(outs[0] - outs[1]).max() / (np.abs(outs[0]).max() + 1e-12)))
        if worst > 1e-6:
            return (
                False,
                f"outputs change after a .keras round trip (relative {worst:.2g}; inference and training mode)",
            )
        return True, "inference and training outputs identical after a .keras round trip"

    def run(self, checks: Iterable[str] | None = None, on_stage: Callable[[str], Any] | None = None
            ) -> list[dict[str, Any]]:
        """Run `checks` (default: all, in `CHECKS` order); one {"check", "passed", "reason"} row each.

        A check that raises (or calls sys.exit) fails with the exception as its reason; `on_stage(text)` is told
        which check is about to run.
        """
        rows = []
        for name in checks or CHECKS:
            if on_stage is not None:
                on_stage(f"running check {name}")
            try:
                passed, reason = getattr(self, f"check_{name}")()
            except (Exception, SystemExit) as error:  # a crashing layer (sys.exit too) fails the check
                passed, reason = False, f"raised {type(error).__name__}: {_first_line(error)}"
            rows.append({"check": name, "passed": bool(passed), "reason": reason})
        return rows


def verify(factory: Callable[[], Any], checks: Iterable[str] | None = None, steps: int = 3000,
           seed: int = 0) -> list[dict[str, Any]]:
    """Run the checks on layers from `factory`; a list of {"check", "passed", "reason"} rows."""
    return Verifier(factory, steps=steps, seed=seed).run(checks)


def _user_output_to_stderr() -> None:
    """Point this process's stdout (the Python stream and file descriptor 1) at stderr."""
    import os
    import sys

    sys.stdout.flush()
    try:
        os.dup2(sys.stderr.fileno(), 1)
    except (OSError, ValueError):  # no real descriptors (captured): the Python stream alone
        pass
    sys.stdout = sys.stderr


def _check_in_child(conn: Connection, target: str, checks: Iterable[str] | None, steps: int, seed: int) -> None:
    """The child process's work: import and check `target`, telling the parent each stage and the outcome.

    Messages on `conn`: ("stage", text) before each piece of the user's code runs, then ("usage", message)
    for a usage error or ("rows", rows). Ctrl-C reaches the whole process group; the parent handles it and
    ends this process, so here it is ignored (no second traceback).
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # stdout is the verdict's (`--json` must parse): what the user's code prints goes to stderr
    _user_output_to_stderr()
    on_stage = lambda text: conn.send(("stage", text))  # noqa: E731
    try:
        factory = load_factory(target, on_stage=on_stage)
        rows = Verifier(factory, steps=steps, seed=seed).run(checks, on_stage=on_stage)
    except UsageError as error:
        conn.send(("usage", str(error)))
    else:
        conn.send(("rows", rows))
    conn.close()


def _death(exitcode: int | None) -> str:
    """How a child process ended: "SIGABRT" for a signal, "exit code 3" otherwise."""
    if exitcode is not None and exitcode < 0:
        import signal

        try:
            return signal.Signals(-exitcode).name
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"


def check_in_child(target: str, checks: Iterable[str] | None = None, steps: int = 3000,
                   seed: int = 0) -> list[dict[str, Any]]:
    """Import `target` and run the checks in one spawned child process; the rows, or a UsageError.

    Everything that executes the user's code (the module's import, the factory, the layer in each check) runs
    there, so a target that aborts, calls `os._exit` or dies by a signal (SIGSEGV) ends the child only: that is
    one UsageError naming the target, how the child died and what it was doing.
    """
    import importlib.util
    import multiprocessing

    module_name, _ = _split_target(target)
    found: object  # a ModuleSpec, None (not found), or True (the child will tell)
    try:  # a misspelt top-level module is refused here, without starting a child (finding it executes nothing)
        found = importlib.util.find_spec(module_name.split(".")[0])
    except (ImportError, ValueError):
        found = True  # let the import in the child say what is wrong
    if found is None:
        raise UsageError(f"cannot import module {module_name!r}: No module named {module_name.split('.')[0]!r}")
    context = multiprocessing.get_context("spawn")  # no TensorFlow state is forked; the child imports it silenced
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_check_in_child, args=(sender, target, checks, steps, seed),
                            name="harness-verify", daemon=True)
    child.start()
    sender.close()  # only the child holds the sending end: its death is end-of-file here
    stage: str = "starting"
    outcome: tuple[str, Any] | None = None
    try:
        while outcome is None:
            try:
                kind, value = receiver.recv()
            except EOFError:
                break
            if kind == "stage":
                stage = value
            else:
                outcome = (kind, value)
        child.join()
    finally:
        if child.is_alive():  # interrupted (Ctrl-C, SIGTERM): the child goes too
            child.kill()
            child.join()
        receiver.close()
    if outcome is None:
        raise UsageError(f"{target} killed the checking process ({_death(child.exitcode)}) while {stage}")
    kind, value = outcome
    if kind == "usage":
        raise UsageError(value)
    return value


def main(args: argparse.Namespace) -> int:
    """Run `verify`: print one PASS/FAIL row per check (or JSON); 0 when all pass, 1 otherwise."""
    if args.steps < FIRST_CHUNK:
        raise UsageError(f"--steps must be >= {FIRST_CHUNK}")
    checks = None if not args.check else [c for c in CHECKS if c in args.check]
    rows = check_in_child(args.target, checks=checks, steps=args.steps, seed=args.seed)
    if args.json:
        print(json.dumps({"target": args.target, "rows": rows, "passed": all(r["passed"] for r in rows)}, indent=2))
    else:
        width = max(len(r["check"]) for r in rows)
        for row in rows:
            print(f"{'PASS' if row['passed'] else 'FAIL'}  {row['check']:{width}s}  {row['reason']}")
    return 0 if all(r["passed"] for r in rows) else 1
