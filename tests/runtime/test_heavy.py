"""The heavy dependencies (TensorFlow, Keras, matplotlib, seaborn, Ray) come through one helper,
`harness.runtime.heavy`: no function-level import of them elsewhere, each loader imports once after its set-up,
and the light paths (`import harness`, `import samplers`, validation, listings, `run --dry-run`) import none."""

import ast
import json
import os
import subprocess
import sys

import pytest

from harness.runtime import heavy
from tests.conftest import ROOT

HELPER = os.path.join("harness", "runtime", "heavy.py")


def _is_heavy(name: str) -> bool:
    return name.partition(".")[0] in heavy.HEAVY_MODULES


def heavy_imports(source: str) -> list[tuple[int, str, bool]]:
    """(line, module, at module level) of every import of a heavy module in `source`; imports under
    `if TYPE_CHECKING:` never run and are left out. At module level: not inside a function or class body."""
    tree = ast.parse(source)
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child, top)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, top) for alias in node.names if _is_heavy(alias.name))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and _is_heavy(node.module or ""):
            found.append((node.lineno, node.module or "", top))
        inner = top and not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, True)
    return found


def _sources() -> dict[str, str]:
    """{path relative to the repository: source} of every module of harness/ and samplers/."""
    sources = {}
    for package in ("harness", "samplers"):
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    with open(path, encoding="utf-8") as handle:
                        sources[os.path.relpath(path, ROOT)] = handle.read()
    return sources


def _dotted(path: str) -> str:
    return path[:-3].replace(os.sep, ".").removesuffix(".__init__")


def test_the_finder_tells_function_level_from_module_level_imports():
    source = ("import os\nimport keras\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import tensorflow\n"
              "def f():\n    import tensorflow as tf\n    from matplotlib.lines import Line2D\n    import numpy\n"
              "class C:\n    def m(self):\n        import ray\n")
    assert heavy_imports(source) == [(2, "keras", True), (7, "tensorflow", False), (8, "matplotlib.lines", False),
                                     (12, "ray", False)]


def test_no_function_level_import_of_a_heavy_module_outside_the_helper():
    offenders = [f"{path}:{line}: import {module}" for path, source in sorted(_sources().items()) if path != HELPER
                 for line, module, top in heavy_imports(source) if not top]
    assert not offenders, "use harness.runtime.heavy instead:\n" + "\n".join(offenders)


def _light_paths_code(extra: str = "") -> str:
    """Python that runs the paths which must stay light, then prints the modules they loaded as JSON."""
    scenario = os.path.join(ROOT, "scenarios", "noniid_small.yaml")
    return (
        "import contextlib, io, json, sys\n"
        "import harness, samplers, samplers.metrics, samplers.registry\n"
        "harness.run_scenario, harness.load_run, harness.Run, harness.validate\n"
        "from harness.commands import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    for argv in (['validate', {scenario!r}], ['run', {scenario!r}, '--dry-run'], ['samplers'],\n"
        "                 ['normalizers'], ['models']):\n"
        "        try:\n"
        "            code = cli.main(argv)\n"
        "        except SystemExit as exit_:\n"
        "            code = exit_.code\n"
        "        assert code in (0, None), (argv, code)\n"
        f"{extra}"
        "print(json.dumps(sorted(sys.modules)))\n"
    )


def test_light_paths_import_no_heavy_module_and_no_module_that_imports_one_at_its_top():
    """The modules that import TensorFlow or Keras at their top (the layers, the networks) are only ever imported
    from functions: `import harness`, `import samplers`, validating, listing and `run --dry-run` load none of
    them, nor any heavy library."""
    tensorflow_modules = {_dotted(path) for path, source in _sources().items() if path != HELPER
                          and any(top for _, _, top in heavy_imports(source))}
    assert "harness.norms.batch_renorm" in tensorflow_modules  # the finder sees them
    out = subprocess.run([sys.executable, "-c", _light_paths_code()], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout.splitlines()[-1]))
    assert "harness.runtime.heavy" in loaded and "harness.scenario" in loaded  # the paths did run
    assert not {m for m in loaded if _is_heavy(m)}
    assert not loaded & tensorflow_modules


def test_the_light_paths_check_sees_a_heavy_import():
    code = _light_paths_code(extra="from harness.runtime import heavy\nheavy.keras()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": ROOT})
    loaded = set(json.loads(out.stdout.splitlines()[-1]))
    assert {"tensorflow", "keras"} <= loaded


def _fresh(code: str, **env: str) -> subprocess.CompletedProcess:
    """`code` in a new interpreter with TensorFlow's and matplotlib's environment variables unset unless given."""
    clean = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "MPLBACKEND")}
    return subprocess.run([sys.executable, "-c", "from harness.runtime import heavy\nimport sys\n" + code],
                          capture_output=True, text=True, cwd=ROOT, env={**clean, "PYTHONPATH": ROOT, **env})


def test_tensorflow_is_imported_once_with_its_set_up_and_keras_after_it():
    code = ("import logging, os\n"
            "keras = heavy.keras()\n"  # Keras first: TensorFlow still comes through its set-up
            "tf = heavy.tensorflow()\n"
            "assert tf is heavy.tensorflow() is sys.modules['tensorflow'] and keras is sys.modules['keras']\n"
            "assert keras is heavy.keras() and keras.layers.Dense is heavy.module('keras.layers').Dense\n"
            "assert os.environ['TF_CPP_MIN_LOG_LEVEL'] == '3'\n"
            "assert tf.get_logger().level == logging.getLogger('absl').level == logging.ERROR\n"
            "lib = heavy.module('tensorflow.python.client.device_lib')\n"
            "assert lib is sys.modules['tensorflow.python.client.device_lib']\n"
            "print('ok')\n")
    out = _fresh(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert out.stderr == ""  # TensorFlow's start-up lines (absl, oneDNN, CUDA probing) silenced


def test_tensorflow_verbose_keeps_its_log_level():
    out = _fresh("import os\nheavy.tensorflow(verbose=True)\nprint(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None"


def test_pyplot_chooses_agg_before_pyplot_once():
    code = ("assert 'matplotlib.pyplot' not in sys.modules\n"
            "import matplotlib\n"
            "assert matplotlib.get_backend(auto_select=False) is None\n"  # nothing chosen yet
            "heavy.matplotlib()\n"
            "assert 'matplotlib.pyplot' not in sys.modules and matplotlib.get_backend(auto_select=False) == 'Agg'\n"
            "plt = heavy.pyplot()\n"
            "assert plt is sys.modules['matplotlib.pyplot'] and plt.get_backend().lower() == 'agg'\n"
            "plt.switch_backend('svg')\n"  # the user's later choice stands: the set-up ran once
            "assert heavy.pyplot() is plt and heavy.seaborn() is sys.modules['seaborn']\n"
            "assert heavy.matplotlib() is sys.modules['matplotlib']\n"
            "print(plt.get_backend())\n")
    out = _fresh(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "svg"


def test_seaborn_first_still_gets_agg_and_a_chosen_backend_is_kept():
    out = _fresh("import matplotlib\nheavy.seaborn()\nprint(matplotlib.get_backend(auto_select=False))\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Agg"  # chosen, not matplotlib's automatic pick
    out = _fresh("print(heavy.pyplot().get_backend())\n", MPLBACKEND="svg")  # a notebook's choice is kept
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "svg"


def test_ray_is_imported_once():
    pytest.importorskip("ray")
    out = _fresh("assert heavy.ray() is heavy.ray() is sys.modules['ray']\nprint('ok')\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_module_refuses_a_library_that_is_not_heavy():
    with pytest.raises(ValueError, match="'numpy.linalg' is not a module of tensorflow, keras"):
        heavy.module("numpy.linalg")
