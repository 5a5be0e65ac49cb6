"""The pipeline's checkpoint modes (`--eval-only`, `--predict-only`; a mixin of
`pipeline.Pipeline`): score what a run delivered on the dev set, or predict the test set."""

from __future__ import annotations

from power_bert_tf import data
from power_bert_tf.errors import PipelineError
from power_bert_tf.models import PowerBertClassifier


class CheckpointStep:
    """`evaluate` and `predict`; needs `Pipeline`'s config, `_load`, `examples` and `_predictions`."""

    def checkpoint_model(self) -> PowerBertClassifier:
        """The model --checkpoint delivers (retrain, else finetune), at --retention-config if given."""
        if not self.config.checkpoint:
            raise PipelineError("--checkpoint is required with --eval-only / --predict-only")
        model = self._load(self.config.checkpoint)
        retention = self.config.retention_config(num_layers=model.encoder.num_layers)
        if retention is None:
            return model
        with self.strategy.scope():
            return model.with_mode("hard", retention)

    def evaluate(self) -> dict:
        """The checkpoint's dev metrics; also written to `eval_results.json`."""
        model = self.checkpoint_model()
        dev_examples = self.examples("dev")
        metrics = self._metrics(dev_examples.labels, self._predictions(model, dev_examples))
        result = {
            "task": self.task.name,
            "checkpoint": self.config.checkpoint,
            "metric": self.task.metric,
            "metrics": metrics,
            "retention": None if model.retention is None else model.retention.to_list(),
            "flops_fraction": model.flops_fraction(self.config.seq_len),
            "dev_examples": len(dev_examples),
        }
        self.run_dir.write("eval_results.json", result)
        return result

    def predict(self, pred_glue: bool = False) -> str:
        """Writes the test-set predictions (GLUE's submission file with `pred_glue`); returns its path."""
        if pred_glue and self.task.table is not None:
            raise PipelineError(
                "--pred-glue writes a GLUE submission: your own test file gets test_predictions.tsv"
            )
        model = self.checkpoint_model()
        test_examples = self.examples("test")
        predictions = self._predictions(model, test_examples)
        if pred_glue:
            suffix = {"mnli-m": "-m", "mnli-mm": "-mm"}.get(self.task.name, "")
            path = self.run_dir.file(f"{self.task.directory}{suffix}.tsv")
            data.write_glue_predictions(path, self.task, test_examples, predictions)
        else:
            path = self.run_dir.file("test_predictions.tsv")
            data.write_prediction_rows(path, test_examples.indices, predictions)
        return path
