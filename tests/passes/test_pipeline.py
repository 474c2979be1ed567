"""Pipeline strings: grammar, option coercion, every error message, canonical form."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar, Iterator, Literal, Optional

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irc.errors import PipelineError
from irc.ir import Graph
from irc.pass_manager import (Fixpoint, Pass, PassContext, build_pipeline, fixpoint,
                              format_pipeline, get_pass, parse_pipeline, register_pass,
                              registry_snapshot)


@dataclass(frozen=True)
class AllTypes(Pass):
    """Has an option of every supported type."""

    name: ClassVar[str] = "t-all-types"
    count: int = 3
    ratio: float = 0.5
    flag: bool = False
    label: str = "x"
    mode: Literal["kl", "minmax", "percentile"] = "kl"
    sizes: tuple[int, ...] = (1, 2)
    scales: tuple[float, ...] = ()
    exclude: tuple[str, ...] = ()
    block: tuple[int, int] = (1, 4)
    limit: Optional[int] = None
    per_channel: bool = field(default=True, metadata={"doc": "one scale per output channel"})

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        return graph


@dataclass(frozen=True)
class NoOptions(Pass):
    """Does nothing."""

    name: ClassVar[str] = "t-plain"

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        return graph


@dataclass(frozen=True)
class Required(Pass):
    """Needs its option."""

    name: ClassVar[str] = "t-required"
    scale: float

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        return graph


@dataclass(frozen=True)
class Checked(Pass):
    """Checks more than types in __post_init__."""

    name: ClassVar[str] = "t-checked"
    bits: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.bits not in (2, 4, 8):
            raise PipelineError(f"pass 't-checked': bits must be 2, 4 or 8, got {self.bits}")

    def run(self, graph: Graph, ctx: PassContext) -> Graph:
        return graph


@pytest.fixture(autouse=True)
def passes() -> Iterator[None]:
    with registry_snapshot():
        for cls in (AllTypes, NoOptions, Required, Checked):
            register_pass(cls)
        yield


def error(text: str) -> str:
    with pytest.raises(PipelineError) as exc:
        build_pipeline(text)
    return str(exc.value)


# ---------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------

def test_parse_the_design_example() -> None:
    text = ('fold,dce,fuse-bn{max_iterations=3},'
            'quant{bits=8,per_channel=true,exclude=[conv1,"fc.2"]}')
    assert parse_pipeline(text) == [
        ("fold", {}), ("dce", {}), ("fuse-bn", {"max_iterations": 3}),
        ("quant", {"bits": 8, "per_channel": True, "exclude": ["conv1", "fc.2"]}),
    ]


def test_parse_values_and_whitespace() -> None:
    text = """ a { i = -3 , f = 1e-3, g = .5, t = true, w = block1x4, s = 'it''s',
                  d = "q\\"x", e = [ ], n = [1, [2, 3]], dash-name = none } ,b """
    [(a, opts), (b, _)] = parse_pipeline(text.replace("'it''s'", "'its'"))
    assert (a, b) == ("a", "b")
    assert opts == {"i": -3, "f": 1e-3, "g": 0.5, "t": True, "w": "block1x4", "s": "its",
                    "d": 'q"x', "e": [], "n": [1, [2, 3]], "dash_name": "none"}
    assert type(opts["i"]) is int and type(opts["f"]) is float


def test_parse_empty_and_fixpoint_group() -> None:
    assert parse_pipeline("") == [] and parse_pipeline("  \n ") == []
    assert parse_pipeline("fixpoint(a, b{x=1}){max_iterations=4}, c") == [
        ("fixpoint", {"passes": [("a", {}), ("b", {"x": 1})], "max_iterations": 4}), ("c", {})]


@pytest.mark.parametrize("text, message, caret", [
    ("fold dce", "expected ',', '{', '(' or the end of the pipeline, found 'dce' (separate "
     "passes and options with commas) (at column 6)", "       ^^^"),
    ("fold{a=}", "expected a value, found '}' (at column 8)", "         ^"),
    ("fold{a=1", "expected ',' or '}', found the end of the pipeline (at column 9)",
     "          ^"),
    ("fold=3", "found '=' (options go in braces: pass{name=value})", "      ^"),
    ("fold,,dce", "expected a name, found ',' (at column 6)", "       ^"),
    ("fold,", "expected a name, found the end of the pipeline", "       ^"),
    ('q{a="abc}', "unterminated string (at column 5)", "      ^"),
    ("q{a=[1,2}", "expected ',' or ']', found '}' (at column 9)", "          ^"),
])
def test_syntax_errors_have_column_and_caret(text: str, message: str, caret: str) -> None:
    with pytest.raises(PipelineError) as exc:
        parse_pipeline(text)
    lines = str(exc.value).split("\n")
    assert lines[0].startswith("invalid pipeline: ")
    assert message in lines[0]
    assert lines[1] == "  " + text
    assert lines[2] == caret


def test_syntax_error_on_a_later_line_names_the_line() -> None:
    with pytest.raises(PipelineError, match=r"at line 2, column 4\)\n  dce\}\n     \^"):
        parse_pipeline("fold,\ndce}")


def test_duplicate_option_after_normalizing_dashes() -> None:
    with pytest.raises(PipelineError, match="option 'per_channel' is given twice"):
        parse_pipeline("q{per-channel=true,per_channel=false}")


# ---------------------------------------------------------------------------
# building: coercion
# ---------------------------------------------------------------------------

def test_defaults_and_every_option_type() -> None:
    [p] = build_pipeline("t-all-types")
    assert p == AllTypes()
    [p] = build_pipeline("t-all-types{count=7, ratio=2, flag=true, label=8, mode=minmax, "
                         "sizes=[3], scales=[1, 0.5, inf], exclude=[conv1, 'fc.2', 3], "
                         "block=[2,2], limit=10, per-channel=false}")
    assert p == AllTypes(count=7, ratio=2.0, flag=True, label="8", mode="minmax", sizes=(3,),
                         scales=(1.0, 0.5, math.inf), exclude=("conv1", "fc.2", "3"),
                         block=(2, 2), limit=10, per_channel=False)
    assert type(p.ratio) is float and type(p.scales[0]) is float


def test_single_value_is_a_one_tuple_and_none_sets_optional() -> None:
    [p] = build_pipeline("t-all-types{sizes=5, exclude=conv1, limit=none}")
    assert p.sizes == (5,) and p.exclude == ("conv1",) and p.limit is None


def test_pass_names_accept_underscores() -> None:
    assert build_pipeline("t_all_types") == [AllTypes()]


def test_python_construction_is_coerced_and_checked() -> None:
    p = AllTypes(sizes=[1, 2, 3], scales=[1], exclude=["a"])  # type: ignore[arg-type]
    assert p.sizes == (1, 2, 3) and p.scales == (1.0,) and hash(p) == hash(AllTypes(
        sizes=(1, 2, 3), scales=(1.0,), exclude=("a",)))
    with pytest.raises(PipelineError, match=r"pass 't-all-types': option 'count' expects an "
                       r"int, got 'many'"):
        AllTypes(count="many")  # type: ignore[arg-type]


@pytest.mark.parametrize("text, message", [
    ("t-all-types{count=eight}", "pass 't-all-types': option 'count' expects an int, got "
     "'eight'"),
    ("t-all-types{count=2.5}", "option 'count' expects an int, got '2.5'"),
    ("t-all-types{count=true}", "option 'count' expects an int, got 'true'"),
    ("t-all-types{count='8'}", "option 'count' expects an int, got '\"8\"'"),
    ("t-all-types{ratio=fast}", "option 'ratio' expects a float, got 'fast'"),
    ("t-all-types{flag=1}", "option 'flag' expects a bool (true or false), got '1'"),
    ("t-all-types{flag=yes}", "option 'flag' expects a bool (true or false), got 'yes'"),
    ("t-all-types{label=[a,b]}", "option 'label' expects a string, got '[a,b]'"),
    ("t-all-types{mode=max}", "option 'mode' expects one of kl, minmax, percentile; got "
     "'max'"),
    ("t-all-types{sizes=[1,x]}", "option 'sizes' expects list of int, but element 1 'x' is "
     "not int"),
    ("t-all-types{block=[1,2,3]}", "option 'block' expects list of 2 int, got 3 element(s) "
     "'[1,2,3]'"),
    ("t-all-types{limit=lots}", "option 'limit' expects int or none, got 'lots'"),
])
def test_bad_values_name_pass_option_value_and_type(text: str, message: str) -> None:
    msg = error(text)
    assert message in msg
    value_col = text.index("=") + 1
    assert msg.split("\n")[2] == "  " + " " * value_col + "^" * (len(text) - value_col - 1)


def test_unknown_pass_lists_every_pass_and_suggests() -> None:
    msg = error("t-plain,t-all-typs{count=1}")
    first = msg.split("\n")[0]
    assert first.startswith("unknown pass 't-all-typs'; did you mean 't-all-types'? "
                            "Registered passes: ")
    for name in ("t-all-types", "t-checked", "t-plain", "t-required"):
        assert name in first
    assert msg.split("\n")[2] == "          ^^^^^^^^^^"
    assert "did you mean" not in error("zzzz")


def test_get_pass_unknown() -> None:
    with pytest.raises(PipelineError, match="unknown pass 't-plan'; did you mean 't-plain'"):
        get_pass("t-plan")
    assert get_pass("t-plain") is NoOptions


def test_unknown_option_lists_options_with_types_and_defaults() -> None:
    msg = error("t-all-types{cnt=3}")
    assert ("pass 't-all-types' has no option 'cnt'; did you mean 'count'? Options of "
            "t-all-types: count: int = 3, ratio: float = 0.5, flag: bool = false, "
            "label: str = x, mode: one of kl|minmax|percentile = kl, sizes: list of int = "
            "[1,2],") in msg
    assert "limit: int or none = none, per_channel: bool = true" in msg
    assert msg.split("\n")[2] == "              ^^^"
    assert "takes no options (got 'x')" in error("t-plain{x=1}")


def test_required_option() -> None:
    assert "pass 't-required' needs option 'scale' (float): write t-required{scale=...}" \
        in error("t-required")
    assert build_pipeline("t-required{scale=2}") == [Required(scale=2.0)]


def test_post_init_checks_get_a_caret() -> None:
    msg = error("t-plain, t-checked{bits=3}")
    assert msg.startswith("pass 't-checked': bits must be 2, 4 or 8, got 3 (at column 10)")
    assert msg.split("\n")[2] == "           ^^^^^^^^^"


def test_fixpoint_errors() -> None:
    assert "fixpoint needs a sub-pipeline in parentheses" in error("fixpoint{max_iterations=2}")
    assert "does not take a sub-pipeline" in error("t-plain(t-plain)")
    assert "option 'max_iterations' must be >= 1, got 0" in \
        error("fixpoint(t-plain){max_iterations=0}")
    assert "unknown pass 'nope'" in error("fixpoint(t-plain, nope)")


# ---------------------------------------------------------------------------
# building from lists; canonical form
# ---------------------------------------------------------------------------

def test_build_from_lists() -> None:
    p = AllTypes(count=1)
    got = build_pipeline([p, "t-plain,t-required{scale=1}", ("t-all-types", {"mode": "minmax"}),
                          NoOptions, ("fixpoint", {"passes": ["t-plain"], "max_iterations": 2})])
    assert got == [p, NoOptions(), Required(1.0), AllTypes(mode="minmax"), NoOptions(),
                   Fixpoint(passes=(NoOptions(),), max_iterations=2)]
    with pytest.raises(PipelineError, match="option 'count' expects an int"):
        build_pipeline([("t-all-types", {"count": "x"})])
    with pytest.raises(PipelineError, match="cannot make a pass from 42"):
        build_pipeline([42])


def test_canonical_form() -> None:
    assert str(AllTypes()) == "t-all-types"
    assert str(AllTypes(count=4, exclude=("conv1", "fc.2", "a b", "8", "true", "none"),
                        ratio=1e-7, limit=3, per_channel=False)) == (
        't-all-types{count=4,ratio=1e-07,exclude=[conv1,fc.2,"a b","8","true","none"],'
        'limit=3,per_channel=false}')
    pipeline = [NoOptions(), fixpoint([NoOptions(), AllTypes(mode="percentile")], 3),
                Required(scale=-0.25)]
    text = format_pipeline(pipeline)
    assert text == ("t-plain,fixpoint(t-plain,t-all-types{mode=percentile}){max_iterations=3},"
                    "t-required{scale=-0.25}")
    assert build_pipeline(text) == pipeline


words = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                max_size=8)
floats = st.floats(allow_nan=False, width=64)


@settings(max_examples=150, deadline=None)
@given(count=st.integers(-10**12, 10**12), ratio=floats, flag=st.booleans(), label=words,
       mode=st.sampled_from(["kl", "minmax", "percentile"]),
       sizes=st.lists(st.integers(-5, 10**6), max_size=4).map(tuple),
       scales=st.lists(floats, max_size=3).map(tuple),
       exclude=st.lists(words, max_size=3).map(tuple),
       block=st.tuples(st.integers(0, 64), st.integers(0, 64)),
       limit=st.none() | st.integers(-3, 3))
def test_canonical_round_trip(**kw: object) -> None:
    p = AllTypes(**kw)  # type: ignore[arg-type]
    text = format_pipeline([p, NoOptions()])
    assert build_pipeline(text) == [p, NoOptions()], text
