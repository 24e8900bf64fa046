"""mmengine registries of the ``visionzoo`` scope: configs name our parts with ``type=`` and set ``default_scope="visionzoo"``.

Each registry is a child of mmengine's root registry of the same kind, so a config can also name any
mmengine part (``AdamW``, ``LinearLR``, ``LoggerHook``, ``TensorboardVisBackend``) under our scope. Every
root kind gets a child so that mmengine finds the ``visionzoo`` scope wherever it builds something.
"""
from __future__ import annotations

from mmengine import registry as _root
from mmengine.registry import Registry

__all__ = [
    "RUNNERS", "LOOPS", "HOOKS", "DATASETS", "DATA_SAMPLERS", "TRANSFORMS", "MODELS", "MODEL_WRAPPERS",
    "WEIGHT_INITIALIZERS", "OPTIMIZERS", "OPTIM_WRAPPERS", "OPTIM_WRAPPER_CONSTRUCTORS", "PARAM_SCHEDULERS",
    "METRICS", "EVALUATOR", "TASK_UTILS", "VISUALIZERS", "VISBACKENDS", "LOG_PROCESSORS", "FUNCTIONS",
    "RUNNER_CONSTRUCTORS", "INFERENCERS", "STRATEGIES", "SCOPE",
]

SCOPE = "visionzoo"
_HERE = ["visionzoo.engine"]


def _child(name: str, parent: Registry) -> Registry:
    return Registry(name, parent=parent, scope=SCOPE, locations=_HERE)


RUNNERS = _child("runner", _root.RUNNERS)
RUNNER_CONSTRUCTORS = _child("runner constructor", _root.RUNNER_CONSTRUCTORS)
LOOPS = _child("loop", _root.LOOPS)
HOOKS = _child("hook", _root.HOOKS)
STRATEGIES = _child("strategy", _root.STRATEGIES)
DATASETS = _child("dataset", _root.DATASETS)
DATA_SAMPLERS = _child("data sampler", _root.DATA_SAMPLERS)
TRANSFORMS = _child("transform", _root.TRANSFORMS)
MODELS = _child("model", _root.MODELS)
MODEL_WRAPPERS = _child("model_wrapper", _root.MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child("weight initializer", _root.WEIGHT_INITIALIZERS)
OPTIMIZERS = _child("optimizer", _root.OPTIMIZERS)
OPTIM_WRAPPERS = _child("optim_wrapper", _root.OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child("optimizer wrapper constructor", _root.OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child("parameter scheduler", _root.PARAM_SCHEDULERS)
METRICS = _child("metric", _root.METRICS)
EVALUATOR = _child("evaluator", _root.EVALUATOR)
TASK_UTILS = _child("task util", _root.TASK_UTILS)
VISUALIZERS = _child("visualizer", _root.VISUALIZERS)
VISBACKENDS = _child("vis_backend", _root.VISBACKENDS)
LOG_PROCESSORS = _child("log_processor", _root.LOG_PROCESSORS)
INFERENCERS = _child("inferencer", _root.INFERENCERS)
FUNCTIONS = _child("function", _root.FUNCTIONS)
