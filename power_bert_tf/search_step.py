"""The pipeline's configuration-search step: the soft-mode model trained towards its goal.

`SearchStep.search` builds the `training.search.BudgetController` for the run's goal
(`--lambda`, `--target-flops` or `--max-metric-drop`), trains the soft-mode model, and
reads the retention configuration off the result; `_score` and `_probe` are how
candidates are judged on the held-out part. A mixin of `pipeline.Pipeline`, whose
data, models and training it uses.
"""

from __future__ import annotations

from dataclasses import asdict

from power_bert_tf.config import PipelineError, check_target_flops, warn
from power_bert_tf.retention import RetentionConfig, mass_flops_fraction, project_onto_budget
from power_bert_tf.training import Trainer, TrainConfig
from power_bert_tf.training.search import (
    MIN_TRAVEL,
    PROBE_STEPS,
    SEARCH_TRAVEL,
    SWEEP_FLOOR,
    BudgetController,
    SearchGoal,
    choose_candidate,
    soft_extract_rate,
    travel,
)


class SearchStep:
    """`search` and its helpers; needs `Pipeline`'s config, strategy, datasets and `_train`."""

    def search(self, train, held_out) -> dict:
        config = self.config
        model = self.start_of("search")
        if model.mode == "hard":
            raise PipelineError(
                "the search step needs a fine-tuned model, but the checkpoint is a retrained "
                f"(hard-mode, retention {model.retention}) model: pass the run's finetune.keras"
            )
        adapter = model.encoder.adapter
        budget = (config.seq_len, adapter.hidden_dim, adapter.intermediate_dim)
        if config.target_flops is not None:  # a preset name had no config files to check it against
            check_target_flops(config.target_flops, model.encoder.num_layers, *budget)
        goal = SearchGoal(config.lambda_, config.target_flops, config.max_metric_drop)
        with self.strategy.scope():
            model = model.with_mode("soft")
        search = TrainConfig(epochs=config.search_epochs, lr_bert=config.lr_bert, lambda_=config.lambda_,
                             keep_best=False, soft_extract_decay=not goal.moves_target)
        steps, warmup = self._search_steps(train, search)
        rate, reach = self._soft_extract_rate(steps, warmup, search.soft_extract_decay)
        search.lr_soft_extract = rate
        cheapest = RetentionConfig((1,) * model.encoder.num_layers).flops_fraction(*budget)
        with self.strategy.scope():
            controller = BudgetController(
                goal, steps, warmup,
                mass_fraction=lambda masses: mass_flops_fraction(masses, *budget),
                project=lambda masses, target: project_onto_budget(masses, target, *budget),
                floor=max(SWEEP_FLOOR, cheapest + 0.01),
                score=(lambda retention: self._score(model, retention, held_out))
                if goal.kind == "max_metric_drop" else None,
                probe=(lambda retention: self._probe(model, retention, train, held_out))
                if goal.kind == "max_metric_drop" else None,
            )
        record, _ = self._train(model, "search", train, held_out, search, controller)
        masses = model.encoder.retention_masses()
        record.update({
            "goal": goal.kind, "lambda": config.lambda_, "target_flops": goal.target_flops,
            "max_metric_drop": goal.max_metric_drop, "final_lambda": float(controller.multiplier.numpy()),
            "lr_soft_extract": rate, "retention_travel": reach, "masses": masses,
            "searched": RetentionConfig.from_masses(masses).to_list(),
            "candidates": [asdict(c) for c in controller.candidates],
        })
        if goal.kind == "target_flops":
            retention = project_onto_budget(masses, goal.target_flops, *budget)
        elif goal.kind == "max_metric_drop":
            chosen = choose_candidate(controller.candidates, goal.max_metric_drop)
            record["chosen"] = asdict(chosen) if chosen else None
            retention = RetentionConfig(tuple(chosen.retention)) if chosen else None
            if chosen is None:
                warn(f"no configuration along the search lost at most {goal.max_metric_drop} points of held-out "
                      f"{self.task.metric} to elimination: the run delivers the fine-tuned model")
        else:
            retention = RetentionConfig.from_masses(masses)
        record["retention"] = None if retention is None else retention.to_list()
        record["flops_fraction"] = None if retention is None else retention.flops_fraction(*budget)
        return record

    def _search_steps(self, train, search: TrainConfig) -> tuple[int, int]:
        per_epoch = self.steps_per_epoch(train)
        return per_epoch * search.epochs, search.warmup_steps(per_epoch)

    def _soft_extract_rate(self, steps: int, warmup: int, decay: bool) -> tuple[float, float]:
        """--lr-soft-extract, else the rate that lets each weight travel SEARCH_TRAVEL; and its reach."""
        rate = self.config.lr_soft_extract
        if rate is None:
            rate = soft_extract_rate(steps, warmup, decay)
            self.config.applied_defaults["lr_soft_extract"] = {
                "value": rate, "why": f"each retention weight can travel {SEARCH_TRAVEL:g}x its range "
                                      f"over the search's {steps} steps"}
        reach = travel(rate, steps, warmup, decay)
        if reach < MIN_TRAVEL:
            warn(f"--lr-soft-extract {rate:g} over {steps} search steps lets a retention weight move "
                  f"at most {reach:.2f} of its [0, 1] range: the search will stop where the optimizer runs "
                  "out, not where its goal is met; leave --lr-soft-extract unset to scale it to the steps")
        return rate, reach

    def _score(self, soft_model, retention: RetentionConfig | None, held_out) -> float:
        """The held-out metric of the search's current weights in Hard-Extract mode at `retention`
        (None: without elimination)."""
        with self.strategy.scope():
            model = soft_model.with_mode("none") if retention is None else soft_model.with_mode("hard", retention)
        return self._evaluate(model, held_out)

    def _probe(self, soft_model, retention: RetentionConfig, train, held_out) -> float:
        """The held-out metric of `retention` after `PROBE_STEPS` steps of Hard-Extract training
        from the search's current weights (no checkpoint, no log)."""
        with self.strategy.scope():
            model = soft_model.with_mode("hard", retention)
        steps = min(PROBE_STEPS, self.steps_per_epoch(train))
        trainer = Trainer(
            model, TrainConfig(epochs=1, lr_bert=self.config.lr_bert, lambda_=0.0), self._metrics,
            self.task.metric, steps_per_epoch=steps, strategy=self.strategy, name="probe", verbose=0,
        )
        batches = self.dataset(train, shuffle=True, seed=self.config.seed).take(steps)
        return trainer.fit(batches, self.dataset(held_out), held_out.labels)[-1].metrics[self.task.metric]
