"""The pipeline's configuration-search step: the soft-mode model trained towards its goal.

`SearchStep.search` builds the `training.search.BudgetController` for the run's goal
(`--lambda`, `--target-flops` or `--max-metric-drop`), trains the soft-mode model, and
reads the retention configuration off the result; `_assess` is how a candidate is judged
on the held-out part (`training.selection`) and where its weights are kept for the retrain.
A mixin of `pipeline.Pipeline`, whose data, models and training it uses.
"""

from __future__ import annotations

import os
from dataclasses import asdict

import numpy as np

from power_bert_tf.config import PipelineError, check_target_flops, warn
from power_bert_tf.retention import RetentionConfig, flops_fraction_of, project_onto_budget
from power_bert_tf.training import TrainConfig, Trainer
from power_bert_tf.training.search import (
    MIN_TRAVEL,
    PROBE_STEPS,
    SEARCH_TRAVEL,
    SWEEP_FLOOR,
    BudgetController,
    Candidate,
    SearchGoal,
    choose_candidate,
    soft_extract_rate,
    travel,
)
from power_bert_tf.training.selection import Verdict, judge


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
        # (seq_len, hidden, intermediate, lengths): how every FLOPs fraction here is counted.
        budget = (config.seq_len, adapter.hidden_dim, adapter.intermediate_dim, self._flops_lengths)
        if config.target_flops is not None:  # counted as this run counts, from its lengths
            check_target_flops(config.target_flops, model.encoder.num_layers, *budget)
        goal = SearchGoal(config.lambda_, config.target_flops, config.max_metric_drop)
        with self.strategy.scope():
            model = model.with_mode("soft")
        search = TrainConfig(
            epochs=config.search_epochs,
            lr_bert=config.lr_bert,
            lambda_=config.lambda_,
            keep_best=False,
            soft_extract_decay=not goal.moves_target,
        )
        steps, warmup = self._search_steps(train, search)
        rate, reach = self._soft_extract_rate(steps, warmup, search.soft_extract_decay)
        search.lr_soft_extract = rate
        cheapest = RetentionConfig((1,) * model.encoder.num_layers).flops_fraction(*budget)
        with self.strategy.scope():
            controller = BudgetController(
                goal,
                steps,
                warmup,
                mass_fraction=lambda masses: flops_fraction_of(masses, *budget),
                project=lambda masses, target: project_onto_budget(masses, target, *budget),
                floor=max(SWEEP_FLOOR, cheapest + 0.01),
                assess=(
                    lambda candidate, retention: self._assess(
                        model, candidate, retention, train, held_out
                    )
                )
                if goal.kind == "max_metric_drop"
                else None,
            )
        record, _ = self._train(model, "search", train, held_out, search, controller)
        masses = model.encoder.retention_masses()
        record.update(
            {
                "goal": goal.kind,
                "lambda": config.lambda_,
                "target_flops": goal.target_flops,
                "max_metric_drop": goal.max_metric_drop,
                "final_lambda": float(controller.multiplier.numpy()),
                "lr_soft_extract": rate,
                "retention_travel": reach,
                "masses": masses,
                "searched": RetentionConfig.from_masses(masses).to_list(),
                "candidates": [asdict(c) for c in controller.candidates],
            }
        )
        if goal.kind == "target_flops":
            retention = project_onto_budget(masses, goal.target_flops, *budget)
        elif goal.kind == "max_metric_drop":
            chosen = choose_candidate(controller.candidates)
            record["chosen"] = asdict(chosen) if chosen else None
            retention = RetentionConfig(tuple(chosen.retention)) if chosen else None
            if chosen is None:
                self._warn_none_passed(controller.candidates, len(held_out))
        else:
            retention = RetentionConfig.from_masses(masses)
        record["retention"] = None if retention is None else retention.to_list()
        record["flops_fraction"] = None if retention is None else retention.flops_fraction(*budget)
        if retention is not None and self._flops_lengths is not None:
            record["padded_flops_fraction"] = retention.flops_fraction(*budget[:3])
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
                "value": rate,
                "why": f"each retention weight can travel {SEARCH_TRAVEL:g}x its range "
                f"over the search's {steps} steps",
            }
        reach = travel(rate, steps, warmup, decay)
        if reach < MIN_TRAVEL:
            warn(
                f"--lr-soft-extract {rate:g} over {steps} search steps lets a retention weight move "
                f"at most {reach:.2f} of its [0, 1] range: the search will stop where the optimizer runs "
                "out, not where its goal is met; leave --lr-soft-extract unset to scale it to the steps"
            )
        return rate, reach

    def _warn_none_passed(self, candidates: list[Candidate], held_out_size: int) -> None:
        drop, confidence = self.config.max_metric_drop, self.config.selection_confidence
        judged = [c.verdict for c in candidates if c.verdict]
        informative = [v for v in judged if v["informative"]]
        if not informative:
            why = "no candidate did better than a constant predictor on the held-out part"
        elif min(v["drop"] for v in informative) <= drop:
            why = (
                f"some candidates' estimates are within {drop}, but on {held_out_size} held-out examples none "
                f"is by a bound at {confidence:g} (the tightest: {min(v['bound'] for v in informative):.2f}): "
                "the held-out part is too small to vouch for them"
            )
        else:
            why = f"every candidate lost more than {drop} points of held-out {self.task.metric} to elimination"
        warn(
            f"{why}; the run delivers the fine-tuned model (--max-metric-drop or --target-flops to choose "
            "otherwise)"
        )

    def _verdict(self, labels, reference: np.ndarray, candidate: np.ndarray) -> Verdict:
        """`selection.judge` with the run's metric, D, confidence and seed."""
        return judge(
            labels,
            reference,
            candidate,
            lambda y, p: self._metrics(y, p)[self.task.metric],
            self.config.max_metric_drop,
            self.task.is_regression,
            confidence=self.config.selection_confidence,
            seed=self.config.seed,
        )

    def _assess(
        self, soft_model, candidate: Candidate, retention: RetentionConfig, train, held_out
    ) -> None:
        """Keep the search's current weights for `candidate`, then judge it on `held_out` against
        the same weights without elimination; one that fails is judged again after both get the
        same short retrain."""
        path = self.run_dir.candidate_weights(candidate.step)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        partial = path.replace(".weights.h5", ".partial.weights.h5")
        soft_model.save_weights(partial)
        os.replace(partial, path)  # never half-written
        candidate.weights = os.path.relpath(path, self.run_dir.path)
        with self.strategy.scope():
            pruned, full = soft_model.with_mode("hard", retention), soft_model.with_mode("none")
        verdict = self._verdict(
            held_out.labels, self._predictions(full, held_out), self._predictions(pruned, held_out)
        )
        candidate.held_out, candidate.reference = verdict.metric, verdict.reference
        if not verdict.passes:
            self._probe(pruned, train, held_out)
            self._probe(full, train, held_out)
            verdict = self._verdict(
                held_out.labels,
                self._predictions(full, held_out),
                self._predictions(pruned, held_out),
            )
            candidate.probed, candidate.probed_reference = verdict.metric, verdict.reference
        candidate.verdict = verdict.as_record()

    def _probe(self, model, train, held_out) -> None:
        """Train `model` (a copy of the search's weights) for `PROBE_STEPS` steps, on the same
        batches whichever model it is (no checkpoint, no log)."""
        steps = min(PROBE_STEPS, self.steps_per_epoch(train))
        trainer = Trainer(
            model,
            TrainConfig(epochs=1, lr_bert=self.config.lr_bert, lambda_=0.0),
            self._metrics,
            self.task.metric,
            steps_per_epoch=steps,
            strategy=self.strategy,
            name="probe",
            verbose=0,
        )
        batches = self.dataset(train, shuffle=True, seed=self.config.seed).take(steps)
        trainer.fit(batches, self.dataset(held_out), held_out.labels)
