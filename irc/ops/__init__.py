"""The op registry and every built-in op.

Ops are grouped in dialect-like namespaces whose names show the lowering:
``nn.*`` float ops, ``q.*`` integer ops, ``sparse.*`` products with sparse
weights; ``bin.*`` comes with the pass that lowers to it.  Importing this package registers them all.
"""

from ._registry import (REQUIRED, ArrayAttr, Attr, AttrKind, Bool, DTypeAttr, Enum, Float,
                        Floats, Int, Ints, OpDef, Operand, Str, all_ops, broadcast_shapes,
                        float_like, get_op, has_op, normalize_axis, op_hook, register_op,
                        require_float, require_same_dtype)
from . import core  # noqa: F401  (registers const)
from . import nn_elementwise  # noqa: F401
from . import nn_conv  # noqa: F401
from . import nn_linear  # noqa: F401
from . import nn_norm  # noqa: F401
from . import nn_pool  # noqa: F401
from . import nn_reduce  # noqa: F401
from . import nn_resize  # noqa: F401
from . import nn_shape  # noqa: F401
from . import nn_logic  # noqa: F401
from . import q_core  # noqa: F401  (q.* integer core)
from . import q_arith  # noqa: F401  (q.add, q.mul, q.lut, q.avg_pool)
from . import calib  # noqa: F401  (calib.observe)
from . import qat  # noqa: F401  (qat.fake_quant)
from . import sparse  # noqa: F401  (sparse.* products with csr/bsr weights)

__all__ = [
    "REQUIRED", "ArrayAttr", "Attr", "AttrKind", "Bool", "DTypeAttr", "Enum", "Float", "Floats",
    "Int", "Ints", "OpDef", "Operand", "Str", "all_ops", "broadcast_shapes", "float_like",
    "get_op", "has_op", "normalize_axis", "op_hook", "register_op", "require_float",
    "require_same_dtype",
]
