"""Name -> sampler class: built-ins, `harness.samplers` entry points, "module.path:ClassName"."""

import importlib
import importlib.metadata

from samplers.base import Sampler, SamplerParameterError

ENTRY_POINT_GROUP = "harness.samplers"

BUILTINS = {
    "iid": "samplers.iid:IIDSampler",
    "class_correlated": "samplers.class_correlated:ClassCorrelatedSampler",
    "label_sorted": "samplers.label_sorted:LabelSortedSampler",
    "dirichlet": "samplers.dirichlet:DirichletSampler",
    "continuous": "samplers.continuous:ContinuousSampler",
    "cluster": "samplers.cluster:ClusterSampler",
    "sticky": "samplers.sticky:StickySampler",
}


def _entry_points():
    """Installed plugins, read afresh each call so newly installed ones are seen."""
    found = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def available():
    """Names of the built-in and installed samplers (module paths are not enumerable)."""
    names = list(BUILTINS)
    names += sorted(name for name in _entry_points() if name not in BUILTINS)
    return names


def _one_line(error):
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _import_path(name, spec):
    """Import "module.path:ClassName" or raise SamplerParameterError with the error in one line."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise SamplerParameterError("kind", name, "is not of the form 'module.path:ClassName'")
    try:
        obj = importlib.import_module(module_name)
    except Exception as error:  # any failure while importing the user's module
        raise SamplerParameterError(
            "kind", name, f"could not be imported ({_one_line(error)})") from error
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise SamplerParameterError(
                "kind", name, f"could not be imported (module {module_name!r} has no attribute "
                f"{attr!r})") from None
    return obj


def _check_class(name, obj):
    if not (isinstance(obj, type) and issubclass(obj, Sampler)):
        raise SamplerParameterError("kind", name, f"is {obj!r}, not a subclass of samplers.Sampler")
    return obj


def get(name):
    """The sampler class for a built-in name, an entry-point name or "module.path:ClassName"."""
    if not isinstance(name, str) or not name:
        raise SamplerParameterError("kind", name, "must be a sampler name (a non-empty string)")
    if name in BUILTINS:
        return _import_path(name, BUILTINS[name])
    entry_points = _entry_points()
    if name in entry_points:
        try:
            obj = entry_points[name].load()
        except Exception as error:
            raise SamplerParameterError(
                "kind", name, f"is an installed plugin ({entry_points[name].value}) that could not "
                f"be loaded ({_one_line(error)})") from error
        return _check_class(name, obj)
    if ":" in name:
        return _check_class(name, _import_path(name, name))
    raise SamplerParameterError(
        "kind", name, "is not a known sampler; available: " + ", ".join(available())
        + " (or a plugin given as 'module.path:ClassName')")


def create(name, labels, batch_size, *, seed, features=None, **params):
    """Resolve `name` and build the sampler; unknown parameters name themselves."""
    cls = get(name)
    known = cls.parameters()
    for param in params:
        if param not in known:
            raise SamplerParameterError(
                param, params[param], f"is not a parameter of sampler {name!r}; its parameters: "
                + (", ".join(known) if known else "none"))
    return cls(labels, batch_size, seed=seed, features=features, **params)
