"""The model zoo: every architecture of the tutorials behind one registry.

```pycon
>>> import zoo
>>> zoo.list_models(task="image-classification")[:3]
['alexnet', 'fashion-net', 'inception']
>>> model = zoo.get_model("resnet")
>>> spec = zoo.get_spec("resnet")
>>> model = zoo.get_model("lenet", weights="DEFAULT")    # trained on MNIST; see zoo.list_weights()
```
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
from .weights import Weights, get_model_weights, get_weights, list_weights

__all__ = [
    "TASKS",
    "ModelSpec",
    "Part",
    "TensorSpec",
    "Weights",
    "count_parameters",
    "get_model",
    "get_model_weights",
    "get_spec",
    "get_weights",
    "list_models",
    "list_weights",
    "register_model",
]
__version__ = "0.1.0"
