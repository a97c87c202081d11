"""Issue 33: `task_mix` sets each task's share of the training records (the demo's one-stage multi-task mix)."""

from collections import Counter

import pytest

from earthgptx_hf.data.annotated_images import DataArguments
from earthgptx_hf.data.sampling import parse_task_mix, task_mix_picks

TASKS = ("classification", "grounding", "caption")


def test_weights_are_normalised_and_bad_entries_named():
    assert parse_task_mix("classification=3,grounding=1", TASKS) == {"classification": 0.75, "grounding": 0.25}
    assert parse_task_mix({"caption": 2}, TASKS) == {"caption": 1.0}
    for bad, named in (("relation=1", "relation='1'"), ("caption=0", "caption='0'"), ("caption=x", "caption='x'"),
                       ("caption", "caption=None"), ("grounding=nan", "grounding='nan'")):
        with pytest.raises(ValueError, match=f"task_mix={bad!r}: {named}"):
            parse_task_mix(bad, TASKS)
    with pytest.raises(ValueError, match="names no task"):
        parse_task_mix("", TASKS)
    with pytest.raises(ValueError, match="task_mix='scene=1'"):  # checked against the tasks built, on construction
        DataArguments(tasks="classification,grounding", task_mix="scene=1")


def test_each_task_gets_its_share_of_as_many_records_as_before():
    tasks = ["classification"] * 10 + ["grounding"] * 50 + ["caption"] * 40
    picks, counts = task_mix_picks(tasks, {"classification": 0.5, "grounding": 0.3, "caption": 0.2}, seed=1)
    assert len(picks) == 100
    drawn = Counter(tasks[i] for i in picks)
    assert drawn == {"classification": 50, "grounding": 30, "caption": 20}
    assert counts["classification"] == {"before": 10, "after": 50}
    # without replacement while there are enough: the 30 grounding picks are 30 different records
    assert len({i for i in picks if tasks[i] == "grounding"}) == 30
    # every classification record is repeated 5 times (repeated only once all were drawn)
    assert set(Counter(i for i in picks if tasks[i] == "classification").values()) == {5}
    again, _ = task_mix_picks(tasks, {"classification": 0.5, "grounding": 0.3, "caption": 0.2}, seed=1)
    assert list(again) == list(picks)


def test_rounding_keeps_the_count_and_a_task_without_records_is_refused():
    tasks = ["classification"] * 5 + ["grounding"] * 2
    picks, _ = task_mix_picks(tasks, {"classification": 1 / 3, "grounding": 2 / 3})
    assert len(picks) == 7 and Counter(tasks[i] for i in picks) == {"classification": 2, "grounding": 5}
    with pytest.raises(ValueError, match=r"task_mix names \['caption'\].*no records"):
        task_mix_picks(tasks, {"caption": 1.0})
