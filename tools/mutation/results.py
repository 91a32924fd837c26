"""Scores per package, the survivors' listing and the JSON report."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mutation.generation import ERROR, KILLED, NOT_COVERED, SURVIVED, TIMEOUT, Mutant
from mutation.selection import Baseline


def scores(mutants: Sequence[Mutant]) -> dict[str, dict[str, float]]:
    """Per package and "overall": mutants, each outcome's count and the score, (killed +
    timeout) / (mutants - error)."""
    groups: dict[str, list[Mutant]] = defaultdict(list)
    for mutant in mutants:
        groups[mutant.package].append(mutant)
    groups["overall"] = list(mutants)
    table: dict[str, dict[str, float]] = {}
    for name, members in groups.items():
        counts = Counter(mutant.outcome for mutant in members)
        judged = len(members) - counts[ERROR]
        row: dict[str, float] = {"mutants": len(members)}
        row.update({outcome: counts[outcome] for outcome in _OUTCOMES})
        row["score"] = (counts[KILLED] + counts[TIMEOUT]) / judged if judged else 0.0
        table[name] = row
    return table


_OUTCOMES = (KILLED, TIMEOUT, SURVIVED, NOT_COVERED, ERROR)


def format_survivor(mutant: Mutant) -> str:
    return f"{mutant.path}:{mutant.line}  {mutant.operator}  {mutant.mutated.strip()}"


def print_results(mutants: Sequence[Mutant]) -> None:
    for outcome, title in ((SURVIVED, "Survived"), (NOT_COVERED, "Not covered by any test")):
        listed = [mutant for mutant in mutants if mutant.outcome == outcome]
        if listed:
            print(f"\n{title} ({len(listed)}):")
            for mutant in listed:
                print(f"  {format_survivor(mutant)}")
    errors = [mutant for mutant in mutants if mutant.outcome == ERROR]
    if errors:
        print(f"\nErrors of the run itself, not counted ({len(errors)}):")
        for mutant in errors:
            print(f"  {format_survivor(mutant)}\n    {mutant.killed_by.strip()[-300:]}")
    table = scores(mutants)
    width = max(len(name) for name in table)
    header = "mutants  killed  timeout  survived  not covered  error   score"
    print(f"\n{'package':<{width}}  {header}")
    for name, row in table.items():
        print(
            f"{name:<{width}}  {row['mutants']:7.0f}  {row[KILLED]:6.0f}  {row[TIMEOUT]:7.0f}  "
            f"{row[SURVIVED]:8.0f}  {row[NOT_COVERED]:11.0f}  {row[ERROR]:5.0f}  "
            f"{100 * row['score']:5.1f} %"
        )


def write_report(
    path: Path,
    mutants: Sequence[Mutant],
    baseline: Baseline | None,
    paths: Sequence[str],
    tests: Sequence[str],
    operators: Sequence[str],
    seconds: float,
    deselected: Sequence[str] = (),
) -> None:
    """Every mutant's outcome as JSON, to compare one pass with a later one."""
    report = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "paths": list(paths),
        "tests": list(tests),
        "deselected": list(deselected),
        "operators": list(operators),
        "seconds": round(seconds, 1),
        "baseline": None
        if baseline is None
        else {
            "passed": len(baseline.passed),
            "failed_without_mutation": baseline.failed,
            "left_out_as_slow": baseline.slow,
            "skipped": baseline.skipped,
            "seconds": round(baseline.seconds, 1),
        },
        "scores": scores(mutants),
        "mutants": [dataclasses.asdict(mutant) for mutant in mutants],
    }
    path.write_text(json.dumps(report, indent=1) + "\n")


def survivor_keys(report_path: Path) -> tuple[set[str], dict[str, Any]]:
    """The keys of an earlier report's survivors (run or not covered) and of its mutants the
    run itself failed on (errors: not decided yet), and the report."""
    report = json.loads(report_path.read_text())
    keys = {
        mutant["key"]
        for mutant in report["mutants"]
        if mutant["outcome"] in (SURVIVED, NOT_COVERED, ERROR)
    }
    return keys, report


def decided_outcomes(report_path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """An earlier report's mutants that have an outcome other than an error of the run, by key,
    and the report."""
    report = json.loads(report_path.read_text())
    decided = {
        mutant["key"]: mutant
        for mutant in report["mutants"]
        if mutant["outcome"] and mutant["outcome"] != ERROR
    }
    return decided, report


def take_decided(mutants: Sequence[Mutant], decided: dict[str, dict[str, Any]]) -> int:
    """Give each mutant an earlier outcome where there is one; how many got one."""
    taken = 0
    for mutant in mutants:
        earlier = decided.get(mutant.key)
        if earlier is not None:
            mutant.outcome = earlier["outcome"]
            mutant.tests = list(earlier["tests"])
            mutant.seconds = earlier["seconds"]
            mutant.killed_by = earlier["killed_by"]
            taken += 1
    return taken


def count_table(mutants: Sequence[Mutant]) -> str:
    by_package = Counter(mutant.package for mutant in mutants)
    by_operator = Counter(mutant.operator for mutant in mutants)
    lines = ["package                     mutants"]
    lines += [f"{package:<28}{count:7d}" for package, count in sorted(by_package.items())]
    lines.append(f"{'overall':<28}{len(mutants):7d}")
    lines.append("\noperator                                  mutants")
    lines += [f"{name:<42}{count:7d}" for name, count in by_operator.most_common()]
    return "\n".join(lines)
