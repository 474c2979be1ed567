"""The verifier: SSA, types and shapes, attributes, encodings.

``verify(graph)`` collects every problem it finds and raises one
:class:`~irc.errors.VerifyError` listing them; each problem names the node
(``%y = nn.conv2d(%x, %w) [node 12]``) and says what is wrong.  It checks:

* SSA: every value defined exactly once, before its uses (topological order),
  names unique, use lists consistent, graph outputs defined;
* ops: registered, operand count, attribute names and domains;
* types: each result type equals what the op's type rule infers (constants:
  the payload fits the type);
* encodings: only constants may be encoded, well-formed, legal for the array,
  and accepted by every consuming operand slot;
* quantization parameters: only on integer types, zero points within range;
* the op's own ``verify`` hook.
"""

from __future__ import annotations

from .encodings import validate_encoding
from .errors import IrcError, VerifyError
from .ir import Graph, Node, format_name
from .ops import get_op, has_op
from .types import PerTensor, TensorType


def verify(graph: Graph) -> None:
    """Raise :class:`VerifyError` listing every problem in ``graph``."""
    problems = verify_problems(graph)
    if problems:
        raise VerifyError(problems, graph.name)


def verify_problems(graph: Graph) -> list[str]:
    """Every problem in ``graph`` as a message (empty when the graph is valid)."""
    problems: list[str] = []
    defined: set[int] = set()
    names: dict[str, str] = {}

    def define(v, where: str) -> None:  # type: ignore[no-untyped-def]
        if id(v) in defined:
            problems.append(f"{where}: value %{format_name(v.name)} is defined twice")
        defined.add(id(v))
        if v.name in names:
            problems.append(f"{where}: name %{format_name(v.name)} is already used by "
                            f"{names[v.name]}")
        else:
            names[v.name] = where

    for v in graph.inputs:
        where = f"graph input %{format_name(v.name)}"
        if v.producer is not None:
            problems.append(f"{where} claims a producer")
        if not v.type.encoding.is_dense:
            problems.append(f"{where} has encoding {v.type.encoding}; only constants may "
                            "be encoded")
        problems.extend(f"{where}: {p}" for p in type_problems(v.type))
        define(v, where)

    for i, node in enumerate(graph.nodes):
        where = f"{node.short()} [node {i}]"
        for k, v in enumerate(node.inputs):
            if id(v) not in defined:
                problems.append(f"{where}: operand {k} %{format_name(v.name)} is used before "
                                "it is defined (or is not in this graph)")
            if (node, k) not in [(n, j) for n, j in v.uses if n is node]:
                problems.append(f"{where}: use list of %{format_name(v.name)} is missing "
                                f"operand {k}")
        for j, v in enumerate(node.outputs):
            if v.producer is not node or v.index != j:
                problems.append(f"{where}: result %{format_name(v.name)} does not point back "
                                "to its producer")
            define(v, where)
        problems.extend(f"{where}: {p}" for p in node_problems(node))

    for v in graph.outputs:
        if id(v) not in defined:
            problems.append(f"graph output %{format_name(v.name)} is not defined in the graph")
    if not graph.outputs:
        problems.append("graph has no outputs")
    return problems


def type_problems(t: TensorType) -> list[str]:
    """Problems of a type on its own: quantization only on integer types with
    zero points the dtype can hold; a well-formed encoding."""
    out: list[str] = []
    q = t.quant
    if q is not None:
        if not t.dtype.is_int:
            out.append(f"type {t} has quantization parameters but {t.dtype} is not an "
                       "integer type")
        else:
            zps = [q.zero_point] if isinstance(q, PerTensor) else list(q.zero_points)
            bad = [z for z in zps if not t.dtype.min <= z <= t.dtype.max]
            if bad:
                out.append(f"type {t}: zero point {bad[0]} is outside the range "
                           f"[{t.dtype.min}, {t.dtype.max}] of {t.dtype}")
    why = validate_encoding(t.encoding)
    if why:
        out.append(f"type {t}: {why}")
    return out


def node_problems(node: Node) -> list[str]:
    """Problems of one node on its own: op, operands, attributes, result types,
    encodings, and the op's verify hook (SSA is checked by :func:`verify_problems`)."""
    if not has_op(node.op):
        try:
            get_op(node.op)
        except IrcError as e:
            return [str(e)]
    opdef = get_op(node.op)
    out: list[str] = []
    err = opdef.operand_count_error(len(node.inputs))
    if err:
        return [err]
    try:
        attrs = opdef.normalize_attrs(node.attrs, where=node.op)
    except IrcError as e:
        return [str(e)]
    if node.op == "const":
        if len(node.outputs) != 1:
            return ["const must have exactly one result"]
    else:
        try:
            inferred = opdef.infer_types([v.type for v in node.inputs], attrs, where=node.op)
        except IrcError as e:
            return [str(e)]
        if len(inferred) != len(node.outputs):
            out.append(f"declares {len(node.outputs)} results but {node.op} gives "
                       f"{len(inferred)}")
        for v, t in zip(node.outputs, inferred):
            if v.type != t:
                out.append(f"result %{format_name(v.name)} is declared {v.type} but "
                           f"{node.op}'s type rule gives {t}")
    for v in node.outputs:
        out.extend(f"result %{format_name(v.name)}: {p}" for p in type_problems(v.type))
    # encodings: results of non-const ops are dense; consumers must accept them
    for v in node.outputs:
        if node.op != "const" and not v.type.encoding.is_dense:
            out.append(f"result %{format_name(v.name)} has encoding {v.type.encoding}; only "
                       "constants may be encoded")
    for k, v in enumerate(node.inputs):
        enc = v.type.encoding
        if enc.is_dense:
            continue
        slot = opdef.operand_for(k, len(node.inputs))
        if "*" not in slot.encodings and enc.kind not in slot.encodings:
            allowed = ", ".join(slot.encodings)
            out.append(f"operand {k} ('{slot.name}') %{format_name(v.name)} is encoded "
                       f"{enc}, which {node.op} does not accept there (allowed: {allowed}); "
                       "decode it or lower the op to one that reads this encoding")
    try:
        out.extend(opdef.verify(node))
    except Exception as e:  # a broken verify hook must not hide the other problems
        out.append(f"{node.op} verify hook raised {type(e).__name__}: {e}")
    return out
