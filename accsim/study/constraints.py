"""Sweep constraints: boolean expressions over axis and base names, evaluated safely.

An expression is parsed once and checked (only arithmetic, comparisons, and/or/not, numbers,
strings and names; dotted preset paths such as ``memory.bandwidth_GBps`` are names). It is then
evaluated by a small interpreter, never by ``eval``: every operation is bounded (integers of at
most ``MAX_INT_BITS`` bits, exponents of at most ``MAX_EXPONENT``, no arithmetic on strings), so
``9 ** 9 ** 9 ** 9`` is an error at once instead of a hang, and a division by zero or a type
mismatch at one point is a ``ConstraintError`` naming the point.
"""
from __future__ import annotations

import ast
import math
import operator
from typing import Any, Callable, Iterable, Mapping

from accsim.core.errors import ConfigError, did_you_mean

MAX_TEXT_CHARS = 1000
MAX_INT_BITS = 4096
MAX_EXPONENT = 1024

_ARITHMETIC: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow}
_COMPARISONS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge}
_STRUCTURE = (ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Name,
              ast.Attribute, ast.Constant, ast.Load, ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd,
              *_ARITHMETIC, *_COMPARISONS)


class ConstraintError(ConfigError):
    """A constraint that cannot be evaluated at one point."""


def _dotted(node: ast.AST) -> str | None:
    """``memory.bandwidth_GBps`` (an Attribute chain over a Name) as one dotted name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bounded(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ArithmeticError(f"an intermediate value exceeds {MAX_INT_BITS} bits")
    if isinstance(value, float) and math.isnan(value):
        raise ArithmeticError("the result is not a number (NaN)")
    return value


def _arithmetic(op: ast.operator, left: Any, right: Any) -> Any:
    if not (_is_number(left) and _is_number(right)):
        raise TypeError(f"arithmetic needs numbers, got {left!r} and {right!r}")
    if isinstance(op, ast.Pow):
        if abs(right) > MAX_EXPONENT:
            raise ArithmeticError(f"exponent {right!r} exceeds {MAX_EXPONENT}")
        if isinstance(left, int) and isinstance(right, int) and right > 0 \
                and abs(left) > 1 and right * math.log2(abs(left)) > MAX_INT_BITS:
            raise ArithmeticError(f"{left} ** {right} exceeds {MAX_INT_BITS} bits")
    return _bounded(_ARITHMETIC[type(op)](left, right))


class Constraint:
    """One constraint expression, checked at construction, evaluated per point by ``holds``."""

    def __init__(self, text: str, names: Iterable[str], path: str) -> None:
        self.text, self.path = text, path
        if len(text) > MAX_TEXT_CHARS:
            raise ConfigError([f"{path}: {len(text):,} characters; a constraint is at most {MAX_TEXT_CHARS}"])
        try:
            self._tree = ast.parse(text.strip(), mode="eval").body
        except (SyntaxError, ValueError) as exc:
            raise ConfigError([f"{path}: cannot parse {text!r}: {getattr(exc, 'msg', exc)}"]) from None
        except RecursionError:
            raise ConfigError([f"{path}: nested too deeply"]) from None
        self._check(self._tree, sorted(names))

    def _check(self, node: ast.AST, known: list[str]) -> None:
        """Only allowed node kinds, number or string constants, and known (dotted) names."""
        if not isinstance(node, _STRUCTURE):
            raise ConfigError([f"{self.path}: {self.text!r} uses {type(node).__name__}; only "
                               "arithmetic, comparisons and and/or/not over axis names are allowed"])
        if isinstance(node, ast.Constant) and not isinstance(node.value, (int, float, str)):
            raise ConfigError([f"{self.path}: {self.text!r}: {node.value!r} is not a number or a string"])
        if isinstance(node, (ast.Name, ast.Attribute)):
            name = _dotted(node)
            if name is None:
                raise ConfigError([f"{self.path}: {self.text!r}: '.{getattr(node, 'attr', '')}' must "
                                   "follow a name"])
            if name not in known:
                raise ConfigError([f"{self.path}: unknown name '{name}'{did_you_mean(name, known)}; "
                                   f"known: {', '.join(known)}"])
            return
        for child in ast.iter_child_nodes(node):
            self._check(child, known)

    def holds(self, values: Mapping[str, Any], point: Mapping[str, Any] | None = None) -> bool:
        """Whether ``values`` (a point's axes with the base) satisfy the constraint; a
        ConstraintError naming ``point`` (default: all values) if it cannot be evaluated there."""
        try:
            return bool(self._eval(self._tree, values))
        except (ArithmeticError, TypeError, ValueError, KeyError) as exc:
            shown = ", ".join(f"{k}={v!r}" for k, v in (values if point is None else point).items())
            reason = "division by zero" if isinstance(exc, ZeroDivisionError) else str(exc).strip("'")
            raise ConstraintError([f"{self.path}: constraint error at point ({shown}): {reason} in "
                                   f"{self.text!r}"]) from None

    def _eval(self, node: ast.AST, env: Mapping[str, Any]) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.Name, ast.Attribute)):
            name = _dotted(node)
            if name not in env:
                raise KeyError(f"'{name}' has no value at this point")
            return env[name]
        if isinstance(node, ast.BinOp):
            return _arithmetic(node.op, self._eval(node.left, env), self._eval(node.right, env))
        if isinstance(node, ast.UnaryOp):
            value = self._eval(node.operand, env)
            if isinstance(node.op, ast.Not):
                return not value
            if not _is_number(value):
                raise TypeError(f"a sign needs a number, got {value!r}")
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BoolOp):
            want = isinstance(node.op, ast.Or)   # or: stop at the first true; and: the first false
            for operand in node.values:
                if bool(self._eval(operand, env)) == want:
                    return want
            return not want
        if isinstance(node, ast.Compare):
            left = self._eval(node.left, env)
            for op, right_node in zip(node.ops, node.comparators):
                right = self._eval(right_node, env)
                ordered = not isinstance(op, (ast.Eq, ast.NotEq))
                if ordered and not ((_is_number(left) and _is_number(right))
                                    or (isinstance(left, str) and isinstance(right, str))):
                    raise TypeError(f"cannot order {left!r} and {right!r}")
                if not _COMPARISONS[type(op)](left, right):
                    return False
                left = right
            return True
        raise TypeError(f"unsupported expression {type(node).__name__}")
