"""The model zoo: every architecture of the tutorials behind one registry.

>>> import zoo
>>> zoo.list_models(task="image-classification")[:3]
['alexnet', 'fashion-net', 'inception']
>>> model = zoo.get_model("resnet")
>>> spec = zoo.get_spec("resnet")
"""

from ._api import (
    TASKS,
    ModelSpec,
    Part,
    TensorSpec,
    count_parameters,
    get_model,
    get_spec,
    list_models,
    register_model,
)

__all__ = [
    "TASKS",
    "ModelSpec",
    "Part",
    "TensorSpec",
    "count_parameters",
    "get_model",
    "get_spec",
    "list_models",
    "register_model",
]
__version__ = "0.1.0"
