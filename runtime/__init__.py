"""The C runtime from Python (``irc.runtime``): load an ``.ircm`` artifact and run it.

The runtime itself is C99 (``runtime/include/irc_runtime.h``, ``runtime/src``),
built into this package through cffi at install time and linkable into an app
without Python (``runtime/Makefile``, ``examples/c``).
"""

from .session import ISAS, RuntimeError_, Session, TensorSpec, available_isas, version

__all__ = ["ISAS", "RuntimeError_", "Session", "TensorSpec", "available_isas", "version"]
