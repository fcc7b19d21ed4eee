"""Name -> sampler class: built-ins, `harness.samplers` entry points, "module.path:ClassName".

Resolved by the harness's one plugin resolver (`harness.plugins.resolve`, pure Python: no TensorFlow).
"""

from __future__ import annotations

from harness.plugins import resolve as plugins
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


def available() -> list[str]:
    """Names of the built-in and installed samplers (module paths are not enumerable)."""
    return plugins.available(BUILTINS, ENTRY_POINT_GROUP)


def get(name: str) -> type[Sampler]:
    """The sampler class for a built-in name, an entry-point name or "module.path:ClassName"."""
    obj, _ = plugins.resolve("kind", name, BUILTINS, ENTRY_POINT_GROUP, "sampler", error=SamplerParameterError)
    if not (isinstance(obj, type) and issubclass(obj, Sampler)):
        raise SamplerParameterError("kind", name, f"is {obj!r}, not a subclass of samplers.Sampler")
    return obj
