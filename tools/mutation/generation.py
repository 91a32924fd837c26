"""Generation: every mutant of some modules under cosmic-ray's operators (a curated
subset), numbered as cosmic-ray numbers them, and the outcomes a mutant can have."""

from __future__ import annotations

import ast
import dataclasses
import difflib
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

# cosmic-ray's core operators, one replacement per arithmetic operator instead of all eleven
# (which would multiply the binary-operator mutants by ten for little extra information).
# RemoveDecorator is left out: with the JIT off, removing @njit changes nothing.
OPERATORS = (
    "ReplaceBinaryOperator_Add_Sub",
    "ReplaceBinaryOperator_Sub_Add",
    "ReplaceBinaryOperator_Mul_Div",
    "ReplaceBinaryOperator_Div_Mul",
    "ReplaceBinaryOperator_FloorDiv_Div",
    "ReplaceBinaryOperator_Mod_FloorDiv",
    "ReplaceBinaryOperator_Pow_Mul",
    "ReplaceBinaryOperator_BitAnd_BitOr",
    "ReplaceBinaryOperator_BitOr_BitAnd",
    "ReplaceBinaryOperator_BitXor_BitOr",
    "ReplaceBinaryOperator_LShift_RShift",
    "ReplaceBinaryOperator_RShift_LShift",
    "ReplaceComparisonOperator_Lt_LtE",
    "ReplaceComparisonOperator_LtE_Lt",
    "ReplaceComparisonOperator_Gt_GtE",
    "ReplaceComparisonOperator_GtE_Gt",
    "ReplaceComparisonOperator_Lt_Gt",
    "ReplaceComparisonOperator_Gt_Lt",
    "ReplaceComparisonOperator_Eq_NotEq",
    "ReplaceComparisonOperator_NotEq_Eq",
    "ReplaceComparisonOperator_Is_IsNot",
    "ReplaceComparisonOperator_IsNot_Is",
    "ReplaceUnaryOperator_USub_UAdd",
    "ReplaceUnaryOperator_UAdd_USub",
    "ReplaceUnaryOperator_Delete_Not",
    "ReplaceUnaryOperator_Delete_Invert",
    "NumberReplacer",
    "ReplaceTrueWithFalse",
    "ReplaceFalseWithTrue",
    "ReplaceAndWithOr",
    "ReplaceOrWithAnd",
    "AddNot",
    "ReplaceBreakWithContinue",
    "ReplaceContinueWithBreak",
    "ZeroIterationForLoop",
    "ExceptionReplacer",
)


# Numba's decorators: with the JIT off they return the function unchanged, so mutating their
# arguments (``cache=True``) is equivalent by construction and is skipped.
JIT_DECORATORS = frozenset({"njit", "jit", "vectorize", "guvectorize", "cfunc", "stencil"})


# a mutant's outcomes
KILLED = "killed"
TIMEOUT = "timeout"
SURVIVED = "survived"
NOT_COVERED = "not covered"
ERROR = "error"


@dataclasses.dataclass
class Mutant:
    """One mutation of one module and, once run, its outcome."""

    path: str  # relative to the root, with forward slashes
    module: str  # the dotted import name
    line: int
    operator: str
    occurrence: int  # cosmic-ray's index of this operator's mutation in the module
    original: str  # the changed line before and after the mutation
    mutated: str
    key: str = ""  # stable across runs while the line is unchanged (see ``assign_keys``)
    outcome: str = ""
    tests: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    killed_by: str = ""

    @property
    def package(self) -> str:
        return self.path.rsplit("/", 1)[0] if "/" in self.path else "."


def module_files(paths: Iterable[str | Path], root: Path) -> list[Path]:
    """The Python files under ``paths`` (files or folders, relative to ``root``), sorted."""
    files: set[Path] = set()
    for path in paths:
        full = (root / path).resolve()
        if full.is_dir():
            files.update(p for p in full.rglob("*.py") if "__pycache__" not in p.parts)
        elif full.suffix == ".py" and full.exists():
            files.add(full)
        else:
            raise SystemExit(f"mutation_test: {path} is neither a folder nor a Python file")
    return sorted(files)


def module_name(file: Path, root: Path) -> str:
    """The dotted import name of ``file`` relative to ``root``."""
    parts = list(file.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def operator_instance(name: str) -> Any:
    import cosmic_ray.plugins

    return cosmic_ray.plugins.get_operator(f"core/{name}")()


def _decorator_name(decorator: ast.expr) -> str:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    if isinstance(target, ast.Attribute):
        return target.attr
    return target.id if isinstance(target, ast.Name) else ""


def _skipped_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions, (line, character column), where a change cannot matter: type
    annotations (never evaluated under ``from __future__ import annotations``) and Numba's
    decorators (``cache=True`` and the like do nothing with the JIT off)."""
    lines = source.splitlines()

    def character_column(line: int, byte_column: int) -> int:
        # ast counts UTF-8 bytes, parso counts characters
        return len(lines[line - 1].encode()[:byte_column].decode(errors="ignore"))

    spans = []
    for node in ast.walk(ast.parse(source)):
        skipped: list[ast.expr | None] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            every_argument = [
                *arguments.posonlyargs,
                *arguments.args,
                *arguments.kwonlyargs,
                arguments.vararg,
                arguments.kwarg,
            ]
            skipped += [a.annotation for a in every_argument if a is not None]
            skipped.append(node.returns)
            skipped += [d for d in node.decorator_list if _decorator_name(d) in JIT_DECORATORS]
        elif isinstance(node, ast.AnnAssign):
            skipped.append(node.annotation)
        for expression in skipped:
            if expression is None or expression.end_lineno is None:
                continue
            start = (expression.lineno, character_column(expression.lineno, expression.col_offset))
            end_column = expression.end_col_offset or 0
            end = (expression.end_lineno, character_column(expression.end_lineno, end_column))
            spans.append((start, end))
    return spans


def _snapshot(node: Any) -> list[tuple[Any, str, Any]]:
    """Everything an operator may change when mutating ``node``: its parent's children and its
    own subtree's children, values and prefixes."""
    saved: list[tuple[Any, str, Any]] = []
    if node.parent is not None:
        saved.append((node.parent, "children", list(node.parent.children)))
    stack = [node]
    while stack:
        current = stack.pop()
        if hasattr(current, "children"):
            saved.append((current, "children", list(current.children)))
            stack.extend(current.children)
        else:
            saved.append((current, "value", current.value))
            saved.append((current, "prefix", current.prefix))
    return saved


def _mutated_code_in_place(tree: Any, node: Any, operator: Any, index: int) -> str:
    """The module's code with ``operator``'s ``index``-th mutation of ``node`` applied, the tree
    restored afterwards: what cosmic-ray's ``mutate_code`` returns for the same occurrence,
    without parsing the module again for every mutant."""
    saved = _snapshot(node)
    try:
        replacement = operator.mutate(node, index)
        if replacement is not node:
            siblings = node.parent.children
            position = next(i for i, child in enumerate(siblings) if child is node)
            if replacement is None:
                del siblings[position]
            else:
                siblings[position] = replacement
        return tree.get_code()
    finally:
        for owner, attribute, value in reversed(saved):
            setattr(owner, attribute, value)


def changed_line(original: str, mutated: str, line: int) -> tuple[int, str, str]:
    """The first changed line (number, before, after), looked for from ``line`` on."""
    original_lines = original.split("\n")
    mutated_lines = mutated.split("\n")
    if len(original_lines) == len(mutated_lines):
        for number in range(line, len(original_lines) + 1):
            if original_lines[number - 1] != mutated_lines[number - 1]:
                return number, original_lines[number - 1], mutated_lines[number - 1]
    matcher = difflib.SequenceMatcher(a=original_lines, b=mutated_lines, autojunk=False)
    for tag, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        if tag != "equal":
            before = original_lines[a_start] if a_start < a_end else ""
            after = mutated_lines[b_start] if b_start < b_end else ""
            return a_start + 1, before, after
    return line, original_lines[line - 1], original_lines[line - 1]


def enumerate_mutants(
    files: Sequence[Path], root: Path, operators: Sequence[str] = OPERATORS
) -> tuple[list[Mutant], dict[str, str]]:
    """Every mutant of ``files`` under ``operators``, and each file's source by relative path.

    Mutants are numbered as cosmic-ray numbers them (``occurrence``), so
    ``cosmic_ray.mutating.mutate_code(source, operator, occurrence)`` rebuilds each one.
    """
    from cosmic_ray.ast import ast_nodes, get_ast

    mutants: list[Mutant] = []
    sources: dict[str, str] = {}
    instances = [(name, operator_instance(name)) for name in operators]
    for file in files:
        relative = file.relative_to(root).as_posix()
        source = file.read_text(encoding="utf-8")
        sources[relative] = source
        tree = get_ast(source)
        nodes = list(ast_nodes(tree))
        skipped_spans = _skipped_spans(source)
        for name, operator in instances:
            occurrence = 0
            for node in nodes:
                for index, (start, _end) in enumerate(list(operator.mutation_positions(node))):
                    this_occurrence = occurrence
                    occurrence += 1
                    if any(first <= start < last for first, last in skipped_spans):
                        continue
                    code = _mutated_code_in_place(tree, node, operator, index)
                    if code == source:
                        continue
                    line, before, after = changed_line(source, code, start[0])
                    mutants.append(
                        Mutant(
                            path=relative,
                            module=module_name(file, root),
                            line=line,
                            operator=name,
                            occurrence=this_occurrence,
                            original=before,
                            mutated=after,
                        )
                    )
    mutants.sort(key=lambda m: (m.path, m.line, m.operator, m.occurrence))
    assign_keys(mutants)
    return mutants, sources


def assign_keys(mutants: Sequence[Mutant]) -> None:
    """Give each mutant a key that survives edits elsewhere in its file: path, operator, the
    line before and after (whitespace stripped) and a counter among mutants sharing those."""
    seen: Counter[tuple[str, str, str, str]] = Counter()
    for mutant in mutants:
        identity = (mutant.path, mutant.operator, mutant.original.strip(), mutant.mutated.strip())
        mutant.key = "|".join((*identity, str(seen[identity])))
        seen[identity] += 1
