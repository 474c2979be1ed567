"""Built-in passes; importing this package registers them.

One module per pass (or small family).  A pass is a frozen dataclass whose
fields are its options, registered with :func:`irc.register_pass`.
"""

from . import (calibrate, dce, fake_quant, fold, fuse_activation, fuse_bn, fuse_gelu,  # noqa: F401
               fuse_matmul_bias, noop_elim, plan_memory, prune, quant, quant_tune,
               sparse_encode)
