"""Modules that are also a function: ``headstart.adapt(...)`` mirrors ``headstart adapt`` while ``headstart.adapt.AdaptResult``
stays importable.

A name of ``headstart`` cannot otherwise be both a submodule and a function: importing the submodule sets the package's
attribute to the module, replacing a function of that name. So the module itself answers the call.
"""

from __future__ import annotations

import inspect
import sys
import types
from typing import Any, Callable


def make_callable(name: str, function: Callable[..., Any]) -> None:
    """Make the imported module ``name`` callable as ``function``; ``inspect.signature`` and ``help`` show the function's.

    Args:
        name: the module's ``__name__`` (call it at the end of the module).
        function: what ``module(...)`` calls.
    """
    from headstart.python_checks import flags_checked

    module = sys.modules[name]
    function = flags_checked(function, name=name.rsplit(".", 1)[-1])  # adapt(oracle="no") is refused, not read as true

    def call(self: types.ModuleType, *args: Any, **kwargs: Any) -> Any:
        return function(*args, **kwargs)

    def shown(self: types.ModuleType) -> str:  # says it is callable, and how
        plain = inspect.signature(function)
        head = str(plain.replace(parameters=[q.replace(annotation=q.empty) for q in plain.parameters.values()],
                                 return_annotation=plain.empty))
        return f"<{name}: call {name}{head[:60] + '...' if len(head) > 60 else head}; a module too>"

    call.__doc__ = function.__doc__
    module.__class__ = type(f"Callable_{function.__name__}", (types.ModuleType,), {"__call__": call, "__repr__": shown})
    module.__signature__ = inspect.signature(function)
