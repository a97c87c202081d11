"""Which records training sees: class-balanced resampling, and a share of procedural records mixed into real data.

- `class_balanced_records`: a real dataset is dominated by a few classes per modality (HIT-UAV infrared: 43 %
  persons), and a small model first learns to answer the majority. Each record is drawn (with replacement, seeded,
  as many records as there were) with a weight equal to the mean, over its regions, of frequency ** -power (the
  frequency of the region's class within its modality; power 1: every class of a modality weighs the same, 0.5: a
  tempered balance that repeats a class of a few objects less often); records without regions (e.g. grounding) keep
  the weight of the mean class frequency. It is a
  weighted sampler written as a resampled list, so that the stock `Trainer` (and its data-parallel sharding) needs no
  custom sampler.
- `mix_procedural`: the paper trains in one stage on a multi-domain mix; in small, real records are mixed with
  procedural ones (`share` of the result) so that the prompt binding they teach is not forgotten while fine-tuning.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..models.earthgptx.processing_earthgptx import EarthGPTXProcessor


def _regions(record: dict) -> list[str]:
    if record.get("task") != "classification":
        return []
    return list(EarthGPTXProcessor.parse_regions(record["conversations"][1]["value"]).values())


def check_balance_power(power) -> float:
    """`power` when it is a number in (0, 1]; `ValueError` naming `balance_power` otherwise."""
    if isinstance(power, bool) or not isinstance(power, (int, float)) or not 0.0 < power <= 1.0:
        raise ValueError(f"balance_power={power!r} must be a number in (0, 1] (1: classes weigh the same; 0.5: "
                         "weights 1 / sqrt(frequency)).")
    return float(power)


def region_labels(record: dict) -> tuple[str | None, list[str]]:
    """(modality, class of each region) of a record, the only thing class balancing reads of it (no classes unless
    it is a classification record). A streamed dataset keeps these per record (its index) instead of the records."""
    return record.get("modality"), _regions(record)


def class_balanced_picks(labels: list[tuple[str | None, list[str]]], seed: int = 0,
                         power: float = 1.0) -> tuple[np.ndarray | None, dict]:
    """The record indices `class_balanced_records` draws, from each record's `region_labels` (None when there is no
    classification region: the records are kept as they were), and the counts for the data report."""
    check_balance_power(power)
    frequency = Counter()
    for modality, classes in labels:
        for label in classes:
            frequency[(modality, label)] += 1
    if not frequency:
        return None, {"class_balanced": "no classification regions: records kept as they were"}
    default = np.mean(list(frequency.values())) ** -power
    weights = []
    for modality, classes in labels:
        weights.append(np.mean([frequency[(modality, label)] ** -power for label in classes])
                       if classes else default)
    weights = np.asarray(weights) / np.sum(weights)
    picks = np.random.default_rng(seed).choice(len(labels), size=len(labels), replace=True, p=weights)
    after = Counter((labels[i][0], label) for i in picks.tolist() for label in labels[i][1])
    table = {}
    for (modality, label), count in sorted(frequency.items()):
        table.setdefault(modality, {})[label] = {"before": count, "after": after.get((modality, label), 0)}
    return picks, {"class_balanced": {"power": power, "records": len(picks),
                                      "distinct_records": len(set(picks.tolist())), "regions_per_class": table}}


def class_balanced_records(records: list[dict], seed: int = 0, power: float = 1.0) -> tuple[list[dict], dict]:
    """`len(records)` records drawn with class-balancing weights (see the module docstring). Returns the records and
    counts for the data report: per modality, the regions per class before and after."""
    picks, counts = class_balanced_picks([region_labels(r) for r in records], seed, power)
    return (list(records) if picks is None else [records[i] for i in picks]), counts


def check_procedural_share(share) -> float:
    """`share` when it is a number in [0, 1); `ValueError` naming `procedural_share` otherwise (1 would leave no
    room for the real records)."""
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share < 1.0:
        raise ValueError(f"procedural_share={share!r} must be a number in [0, 1): the share of procedural records "
                         "in the training data (1 would leave no room for the real records).")
    return float(share)


def procedural_mix_order(real: int, procedural: int, share: float,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """How `mix_procedural` mixes `real` real and `procedural` procedural records: the procedural picks, then the
    order of (the real records, then the picked ones) in the result, and the counts for the data report."""
    check_procedural_share(share)
    wanted = int(round(share / (1.0 - share) * real))
    if wanted and not procedural:
        raise ValueError(f"procedural_share={share} asks for {wanted} procedural records but none were built.")
    rng = np.random.default_rng(seed)
    picks = np.zeros(0, int) if not wanted else np.concatenate(
        [rng.permutation(procedural) for _ in range(-(-wanted // procedural))])[:wanted]
    order = rng.permutation(real + wanted)
    return picks, order, {"procedural_share": share, "real_records": real, "procedural_records": wanted,
                          "procedural_available": procedural}


def mix_procedural(real: list[dict], procedural: list[dict], share: float, seed: int = 0) -> tuple[list[dict], dict]:
    """`real` plus procedural records making up `share` of the result (drawn without replacement while there are
    enough, then repeated), shuffled together. Returns the records and counts for the data report."""
    picks, order, counts = procedural_mix_order(len(real), len(procedural), share, seed)
    mixed = list(real) + [procedural[i] for i in picks]
    return [mixed[i] for i in order], counts


def parse_task_mix(value, tasks, argument: str = "task_mix") -> dict[str, float]:
    """`"classification=2,grounding=1"` (or a mapping) -> `{task: share}`, shares summing to 1. Every task named
    must be one of `tasks` (those the records are built for), with a finite weight above 0; `ValueError` naming the
    argument otherwise. Tasks of `tasks` not named get no records."""
    items = value.items() if isinstance(value, dict) else \
        [part.split("=", 1) if "=" in part else (part, None) for part in str(value).split(",") if part.strip()]
    weights = {}
    for task, weight in items:
        task = str(task).strip()
        try:
            number = float(weight)
        except (TypeError, ValueError):
            number = float("nan")
        if task not in tasks or not np.isfinite(number) or number <= 0:
            raise ValueError(f"{argument}={value!r}: {task}={weight!r} must name one of the tasks {list(tasks)} with "
                             "a weight above 0, e.g. 'classification=2,grounding=1'.")
        weights[task] = number
    if not weights:
        raise ValueError(f"{argument}={value!r} names no task; give 'task=weight' pairs, e.g. 'classification=2'.")
    total = sum(weights.values())
    return {task: weight / total for task, weight in weights.items()}


def task_mix_picks(tasks: list[str], shares: dict[str, float], seed: int = 0) -> tuple[np.ndarray, dict]:
    """Indices of `len(tasks)` records in which each task of `shares` makes up its share (rounded; the largest
    remainders get the leftover records): drawn from that task's records without replacement while there are enough,
    then repeated, and shuffled. Returns the indices and, for the data report, per task the records before and
    after. A task of `shares` without records is a `ValueError`."""
    rng = np.random.default_rng(seed)
    by_task: dict[str, list[int]] = {}
    for index, task in enumerate(tasks):
        by_task.setdefault(task, []).append(index)
    missing = [task for task in shares if not by_task.get(task)]
    if missing:
        raise ValueError(f"task_mix names {missing}, but the data gives no records of them (tasks with records: "
                         f"{sorted(by_task)}).")
    exact = {task: share * len(tasks) for task, share in shares.items()}
    wanted = {task: int(np.floor(value)) for task, value in exact.items()}
    for task in sorted(exact, key=lambda task: wanted[task] - exact[task])[: len(tasks) - sum(wanted.values())]:
        wanted[task] += 1
    picks = []
    for task, count in wanted.items():
        pool = np.asarray(by_task[task])
        repeats = [rng.permutation(pool) for _ in range(-(-count // len(pool)))]
        picks.append(np.concatenate(repeats)[:count] if repeats else np.empty(0, int))
    order = rng.permutation(np.concatenate(picks).astype(int))
    counts = {task: {"before": len(by_task.get(task, [])), "after": wanted.get(task, 0)}
              for task in sorted(set(by_task) | set(wanted))}
    return order, counts


__all__ = ["check_balance_power", "check_procedural_share", "class_balanced_picks", "class_balanced_records",
           "mix_procedural", "parse_task_mix", "procedural_mix_order", "region_labels", "task_mix_picks"]
