"""Reads the scalars of a TensorBoard event folder with the tensorboard package
and prints them as JSON: {tag: [[step, value], ...]}. Used by train.cpp."""
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

accumulator = EventAccumulator(sys.argv[1])
accumulator.Reload()
print(json.dumps({tag: [[e.step, e.value] for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}))
