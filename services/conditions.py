"""Workflow conditions: a small, safe expression language over a document's attributes.

Grammar (a subset of Python expression syntax, parsed with ``ast`` and then checked against a
whitelist; nothing is ever evaluated by Python)::

    expr    := expr "or" expr | expr "and" expr | "not" expr | "(" expr ")" | compare
    compare := operand (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") operand)+
             | operand                       -- truthiness of an attribute or literal
    operand := NAME | "string" | number | true | false | none | "-" number | "[" literal, ... "]"

``NAME`` is an attribute of the document (``request_type``, ``credit_limit``...). ``true``,
``false`` and ``none`` (any case, or Python's True/False/None) are literals. Examples::

    request_type == "Customer"
    credit_limit > 10000 and not customer_group in ["10", "20"]
    country not in ["US", "CA"] or credit_rating == "C"

An attribute the document does not have is ``none``; a comparison of values that cannot be
compared (text with a number, anything ordered with none) is false instead of an error.
Calls, attribute access, subscripts, lambdas, f-strings, dunder names... are refused when the
condition is parsed (at import time), with the column of the offending part.
"""

from __future__ import annotations

import ast
import operator
from decimal import Decimal
from typing import Any, Iterable, Mapping

MAX_LENGTH = 1000
_NAMED = {"true": True, "false": False, "none": None}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


class ConditionError(ValueError):
    """A condition that is not in the language; the message says what and where."""


def _where(node: ast.AST) -> str:
    col = getattr(node, "col_offset", None)
    return f" at column {col + 1}" if col is not None else ""


def _describe(node: ast.AST) -> str:
    names = {
        ast.Call: "a function call",
        ast.Attribute: "attribute access (a.b)",
        ast.Subscript: "indexing (a[b])",
        ast.Lambda: "lambda",
        ast.JoinedStr: "an f-string",
        ast.BinOp: "arithmetic",
        ast.Dict: "a dict",
        ast.Set: "a set",
        ast.IfExp: "an if-expression",
        ast.NamedExpr: "an assignment (:=)",
        ast.Starred: "a starred expression",
        ast.GeneratorExp: "a generator",
        ast.ListComp: "a comprehension",
        ast.Await: "await",
        ast.Yield: "yield",
    }
    return names.get(type(node), type(node).__name__)


def parse(source: str, *, names: Iterable[str] | None = None) -> ast.Expression | None:
    """Check ``source`` and return its tree (None for an empty condition: always true).

    ``names``: the attributes the document type offers; any other name is refused.
    """
    text = (source or "").strip()
    if not text:
        return None
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"too long (at most {MAX_LENGTH} characters)")
    if any(ord(ch) < 32 and ch not in "\t" for ch in text):
        raise ConditionError("control characters are not allowed (write it on one line)")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        col = f" at column {exc.offset}" if exc.offset else ""
        raise ConditionError(f"syntax error{col}: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise ConditionError("too deeply nested") from None
    known = set(names) if names is not None else None
    _check(tree.body, known, top=True)
    return tree


def _check(node: ast.AST, known: set[str] | None, *, top: bool = False) -> None:
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(value, known, top=True)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        _check(node.operand, known, top=True)
    elif isinstance(node, ast.Compare):
        for op in node.ops:
            if not isinstance(op, (*_COMPARE, ast.In, ast.NotIn)):
                raise ConditionError(
                    f"operator {type(op).__name__} is not allowed{_where(node)} (use == != < <= > >= in, not in)"
                )
        for operand in [node.left, *node.comparators]:
            _check_operand(operand, known)
    else:
        _check_operand(node, known)


def _check_operand(node: ast.AST, known: set[str] | None) -> None:
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise ConditionError(f"name {node.id!r} is not allowed{_where(node)}")
        if node.id.lower() in _NAMED:
            return
        if known is not None and node.id not in known:
            choices = ", ".join(sorted(known)) or "none"
            raise ConditionError(f"unknown attribute {node.id!r}{_where(node)} (known: {choices})")
        return
    if isinstance(node, ast.Constant):
        if node.value is None or isinstance(node.value, (bool, int, float, str)):
            return
        raise ConditionError(f"literal of type {type(node.value).__name__} is not allowed{_where(node)}")
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, (int, float))
        and not isinstance(node.operand.value, bool)
    ):
        return
    if isinstance(node, (ast.List, ast.Tuple)):
        for elt in node.elts:
            if isinstance(elt, (ast.List, ast.Tuple)):
                raise ConditionError(f"nested lists are not allowed{_where(elt)}")
            _check_operand(elt, known)
        return
    raise ConditionError(f"{_describe(node)} is not allowed{_where(node)}")


def evaluate(tree: ast.Expression | None, attributes: Mapping[str, Any]) -> bool:
    """True when the (already parsed) condition holds for these attributes."""
    if tree is None:
        return True
    return bool(_truth(_eval(tree.body, attributes)))


def matches(source: str, attributes: Mapping[str, Any]) -> bool:
    return evaluate(parse(source), attributes)


def _truth(value: Any) -> bool:
    return bool(value)


def _value(node: ast.AST, attrs: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        if node.id.lower() in _NAMED and node.id not in attrs:
            return _NAMED[node.id.lower()]
        value = attrs.get(node.id)
        return str(value) if isinstance(value, str) else value  # a StrEnum compares as its label
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp):  # negative number (checked at parse time)
        return -node.operand.value  # type: ignore[attr-defined]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_value(e, attrs) for e in node.elts]
    raise ConditionError(f"{_describe(node)} is not allowed")  # pragma: no cover - parse() refuses it


def _num(value: Any) -> Any:
    # Decimal and float compare fine in Python; bools are not numbers here
    if isinstance(value, float):
        return Decimal(str(value))
    return value


def _compare(op: ast.cmpop, left: Any, right: Any) -> bool:
    try:
        if isinstance(op, ast.In):
            return isinstance(right, (list, str)) and left in right
        if isinstance(op, ast.NotIn):
            return isinstance(right, (list, str)) and left not in right
        if (left is None or right is None) and not isinstance(op, (ast.Eq, ast.NotEq)):
            return False
        return bool(_COMPARE[type(op)](_num(left), _num(right)))
    except (TypeError, ValueError, ArithmeticError):
        return False


def _eval(node: ast.AST, attrs: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.BoolOp):
        if isinstance(node.op, ast.And):
            return all(_truth(_eval(v, attrs)) for v in node.values)
        return any(_truth(_eval(v, attrs)) for v in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _truth(_eval(node.operand, attrs))
    if isinstance(node, ast.Compare):
        left = _value(node.left, attrs)
        for op, comp in zip(node.ops, node.comparators):
            right = _value(comp, attrs)
            if not _compare(op, left, right):
                return False
            left = right
        return True
    return _value(node, attrs)
