"""Request texts: a GLUE dev set, read with `power_bert_tf.data`'s reader."""

from __future__ import annotations

from benchmarks.serving.errors import ServingError
from power_bert_tf.data import (
    GlueDataError,
    GlueExamples,
    get_task,
    read_glue_split,
    resolve_data_dir,
)


def dev_examples(task: str, count: int, data_dir=None) -> tuple[str, list[tuple[str, ...]]]:
    """`(dev file, examples)` of the GLUE `task`'s dev split, each example `count` texts
    (see `dev_split`)."""
    examples = dev_split(task, count, data_dir)
    return examples.path, list(zip(*examples.texts))


def dev_split(task: str, count: int, data_dir=None) -> GlueExamples:
    """The GLUE `task`'s dev split (texts and labels), checked to have `count` texts per example.

    Args:
        task: the export's task, e.g. "cola" or "sts-b" (any case, with or without `-`/`_`).
        count: texts per example the signatures take: 1 or 2.
        data_dir: the task's GLUE directory (default: `$GLUE_DIR/<Task>`).

    Raises:
        ServingError: naming the task, directory, file or line at fault: not a GLUE task, no
            directory, a missing or malformed dev file, or examples of another width.
    """
    try:
        glue_task = get_task(task)
    except ValueError:
        raise ServingError(
            f"the export's task {task!r} is not a GLUE task, so there is no "
            "dev set to draw requests from"
        ) from None
    try:
        directory = resolve_data_dir(glue_task, data_dir)
        if directory is None:
            raise ServingError(
                f"no GLUE directory for {glue_task.name}: set $GLUE_DIR or pass "
                f"the task's directory (…/{glue_task.directory})"
            )
        examples = read_glue_split(glue_task, "dev", directory)
    except GlueDataError as error:
        raise ServingError(str(error)) from None
    if len(examples.texts) != count:
        raise ServingError(
            f"{examples.path}: {glue_task.name} examples have {len(examples.texts)} "
            f"text(s), the signatures take {count}"
        )
    return examples
