"""The pipeline's retrain step, a mixin of `pipeline.Pipeline` (`RetrainStep.retrain`)."""

from __future__ import annotations

import os

from power_bert_tf.errors import as_pipeline_error, warn
from power_bert_tf.files import save_checkpoint
from power_bert_tf.inference import Predictor
from power_bert_tf.models import PowerBertClassifier
from power_bert_tf.retention import RetentionConfig, RetentionConfigError
from power_bert_tf.runs import STARTS_FROM, RunError, resolve_checkpoint
from power_bert_tf.training.budgets import Budget, ConfigurationDraw, budget_configurations
from power_bert_tf.training.resume import ResumeState


class RetrainStep:
    """`retrain` and its helpers; needs `Pipeline`'s config, strategy, run directory, datasets,
    `_train`, `_load`, `_evaluate` and the search step's `_verdict`."""

    def retrain(
        self,
        retention: RetentionConfig,
        masses,
        train,
        held_out,
        dev,
        search: dict,
        earlier: dict,
        save_progress,
    ) -> dict:
        """Hard-Extract training at `retention`, distilling from the fine-tuned model, then the
        final check against it: a failing best epoch gives way to its untrained start if that
        passes; a configuration neither passes is refused (`retrain-refused-<n>.keras`, also in
        `earlier`) and the plan goes on; after it, the run delivers the fine-tuned model."""
        teacher = self._teacher()
        plan = self._retrain_plan(retention, search)
        attempts = list(earlier.get("attempts", []))
        # Past those refused before this run was killed.
        for number, configuration in enumerate(plan[len(attempts) :], len(attempts) + 1):
            record = self._retrain_attempt(configuration, masses, train, held_out, teacher)
            check = self._final_check(teacher, held_out)
            if check is not None and not check.passes:
                start = self._start_if_it_passes(configuration, record, teacher, held_out)
                if start is not None:
                    record.update(trained_check=check.as_record(), best_epoch=0)
                    record["held_out"], check = start.metric, start
            if check is not None:
                record["check"] = check.as_record()
                record["within_max_metric_drop"] = check.passes
            if check is None or record["within_max_metric_drop"]:
                delivered = self._load(self.run_dir.checkpoint("retrain"))
                record["dev"] = self._evaluate(delivered, dev)
                if self.config.budgets:
                    record["budgets"] = [
                        self._budget_record(delivered, budget, held_out, dev)
                        for budget in self._budgets(delivered, masses)
                    ]
                return {**record, "attempts": attempts, "delivered": "retrain"}
            warn(
                f"retrained at {configuration}, the held-out {self.task.metric} is {check.metric:.2f} against the "
                f"fine-tuned model's {check.reference:.2f}, a loss of at most {check.bound:.2f} "
                f"(constant predictor {check.constant:.2f}), and its start fails too: refused"
            )
            attempts.append({**record, "refused_as": self._refuse_attempt(number)})
            save_progress({"attempts": attempts})
        warn(
            "no retrained configuration passed the final check: the run delivers the fine-tuned model"
        )
        return {
            "attempts": attempts,
            "delivered": "finetune",
            "within_max_metric_drop": False,
            "seconds": sum(a["seconds"] for a in attempts),
        }

    def _retrain_plan(self, retention: RetentionConfig, search: dict) -> list[RetentionConfig]:
        """The configurations to retrain in turn: the search's plan, else `retention` alone."""
        plan = search.get("plan") or []
        if self.config.retention is not None or retention.to_list() not in plan:
            return [retention]
        return [RetentionConfig(tuple(keep)) for keep in plan[plan.index(retention.to_list()) :]]

    def _retrain_attempt(
        self, retention: RetentionConfig, masses, train, held_out, teacher
    ) -> dict:
        model, started_from = self._retrain_start(retention, teacher, held_out)
        budgets = self._budgets(model, masses)
        with self.strategy.scope():
            views = [model.sharing_weights(budget.retention) for budget in budgets]
        # The best epoch is the chosen configuration's: it is what serving_default serves.
        draw = ConfigurationDraw(1 + len(views), self.config.seed) if views else None
        distil = self.config.distill and teacher is not None
        retrain = self._until_converged(
            distill_weight=self.config.distill_weight,
            temperature=self.config.distill_temperature,
            score_start=True,
        )
        outputs = Predictor(teacher).predict(self.dataset(train)) if distil else None
        record = self._train(
            model, "retrain", train, held_out, retrain, views=views, draw=draw, teacher=outputs
        )
        return {
            **record,
            "retention": retention.to_list(),
            **self._flops_record(model),
            **started_from,
            "distilled": distil,
        }

    def _starts(self, teacher) -> list[tuple[str, PowerBertClassifier]]:
        """(name, weights) the retrain may start from: the fine-tuned model's, its predecessor's."""
        own = self.run_dir.existing_checkpoint(STARTS_FROM["retrain"])  # in this directory
        predecessor = self.start_of("retrain")
        name = os.path.relpath(own, self.run_dir.path) if own else self._started_from()
        if teacher is None:
            return [(name, predecessor)]
        if predecessor.mode == "none":  # a fine-tuned predecessor holds the teacher's weights
            return [("finetune", teacher)]
        return [("finetune", teacher), (name, predecessor)]

    def _retrain_start(self, retention: RetentionConfig, teacher, held_out) -> tuple:
        """The hard-mode model at `retention` of the start that scores higher on `held_out`
        (ties: the fine-tuned); and a record of where it came from and both scores."""
        scored = []
        for name, weights in self._starts(teacher):
            with self.strategy.scope():
                model = weights.with_mode("hard", retention)
            scored.append((self._evaluate(model, held_out), name, model))
        best = max(scored, key=lambda s: s[0])  # the first of equals: the fine-tuned
        return best[2], {
            "started_from": best[1],
            "start_scores": {name: score for score, name, _ in scored},
        }

    def _start_if_it_passes(self, retention: RetentionConfig, record: dict, teacher, held_out):
        """The untrained start's verdict, saved as the retrain checkpoint; None if it fails too."""
        starts = self._starts(teacher)  # by name; else the predecessor (a run dir moved since)
        weights = next((w for n, w in starts if n == record["started_from"]), starts[-1][1])
        with self.strategy.scope():
            start = weights.with_mode("hard", retention)
        verdict = self._check(teacher, start, held_out)
        if not verdict.passes:
            return None
        save_checkpoint(start, self.run_dir.checkpoint("retrain"))
        return verdict

    def _teacher(self) -> PowerBertClassifier | None:
        """The fine-tuned model every retrained one is compared with (and distils from), if any."""
        path = self.run_dir.existing_checkpoint(("finetune",))
        if path is None and self.config.checkpoint:
            try:  # a run directory's finetune.keras, or the .keras file itself
                path = resolve_checkpoint(self.config.checkpoint, ("finetune",))
            except RunError:
                return None
        if path is None:
            return None
        model = self._load(path)
        return model if model.mode == "none" else None

    def _final_check(self, teacher, held_out):
        """The retrained checkpoint's verdict (None without `teacher` or --max-metric-drop)."""
        if teacher is None or self.config.max_metric_drop is None:
            return None
        return self._check(teacher, self._load(self.run_dir.checkpoint("retrain")), held_out)

    def _check(self, teacher, model, held_out):
        return self._verdict(
            held_out,
            self._predictions(teacher, held_out),
            self._predictions(model, held_out),
        )

    def _refuse_attempt(self, number: int) -> str:
        """Set a refused retrain's files aside, its resume state cleared: the next starts afresh."""
        kept = f"retrain-refused-{number}"
        os.replace(self.run_dir.checkpoint("retrain"), self.run_dir.file(f"{kept}.keras"))
        if os.path.isfile(self.run_dir.log("retrain")):
            os.replace(self.run_dir.log("retrain"), self.run_dir.file(f"{kept}_log.jsonl"))
        ResumeState(self.run_dir.file("retrain.resume")).clear()
        return f"{kept}.keras"

    def _budgets(self, model, masses) -> list[Budget]:
        """--budgets' configurations at the model's dimensions."""
        if not self.config.budgets:
            return []
        adapter = model.encoder.adapter
        with as_pipeline_error(RetentionConfigError, "--budgets: "):
            return budget_configurations(
                masses,
                [float(b) for b in self.config.budgets],
                self.config.seq_len,
                adapter.hidden_dim,
                adapter.intermediate_dim,
                self._flops_lengths,
            )

    def _flops_record(self, model) -> dict:
        """A hard-mode model's FLOPs fraction as the run counts it, and padded (the paper's)."""
        return {
            "flops_fraction": model.flops_fraction(self.config.seq_len, self._flops_lengths),
            "padded_flops_fraction": model.flops_fraction(self.config.seq_len),
        }

    def _budget_record(self, delivered, budget: Budget, held_out, dev) -> dict:
        """One budget of the retrained family: its configuration and both scores."""
        with self.strategy.scope():
            view = delivered.sharing_weights(budget.retention)
        return {
            "target": budget.target,
            "signature": budget.signature,
            "retention": budget.retention.to_list(),
            **self._flops_record(view),
            "held_out": self._evaluate(view, held_out),
            "dev": self._evaluate(view, dev),
        }
