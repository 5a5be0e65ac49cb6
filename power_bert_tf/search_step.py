"""The pipeline's configuration-search step (a mixin of `pipeline.Pipeline`): the soft-mode
model trained towards its goal, and the retention configuration read off it."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from power_bert_tf.config import check_target_flops
from power_bert_tf.errors import PipelineError, warn
from power_bert_tf.retention import RetentionConfig, flops_fraction_of, project_onto_budget
from power_bert_tf.training import TrainConfig
from power_bert_tf.training.search import (
    MIN_TRAVEL,
    RETRAIN_REACH,
    SEARCH_TRAVEL,
    SWEEP_FLOOR,
    BudgetController,
    Candidate,
    SearchGoal,
    ladder,
    retrain_plan,
    soft_extract_rate,
    travel,
)
from power_bert_tf.training.selection import Verdict, judge


class SearchStep:
    """`search` and its helpers; needs `Pipeline`'s config, strategy, datasets and `_train`."""

    def search(self, train, held_out) -> dict:
        config = self.config
        fine_tuned = self.start_of("search")
        if fine_tuned.mode == "hard":
            raise PipelineError(
                "the search step needs a fine-tuned model, but the checkpoint is a retrained "
                f"(hard-mode, retention {fine_tuned.retention}) model: pass the run's finetune.keras"
            )
        budget, floor = self._budget(fine_tuned)
        if config.target_flops is not None:  # counted as this run counts, from its lengths
            check_target_flops(config.target_flops, fine_tuned.encoder.num_layers, *budget)
        goal = SearchGoal(config.lambda_, config.target_flops, config.max_metric_drop)
        with self.strategy.scope():
            model = fine_tuned.with_mode("soft")  # a copy: `fine_tuned` stays as it was
        search = TrainConfig(
            epochs=config.search_epochs,
            lr_bert=config.lr_bert,
            lambda_=config.lambda_,
            keep_best=False,
            soft_extract_decay=goal.kind == "lambda",  # a moving target: no decay
        )
        per_epoch = self.steps_per_epoch(train)
        steps, warmup = per_epoch * search.epochs, search.warmup_steps(per_epoch)
        rate, reach = self._soft_extract_rate(steps, warmup, search.soft_extract_decay)
        search.lr_soft_extract = rate
        with self.strategy.scope():
            controller = BudgetController(
                goal,
                steps,
                warmup,
                mass_fraction=lambda masses: flops_fraction_of(masses, *budget),
                project=lambda masses, target: project_onto_budget(masses, target, *budget),
                floor=floor,
            )
        record = self._train(model, "search", train, held_out, search, controller)
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
            judged = self._judge_ladder(fine_tuned, controller.candidates, held_out, budget, floor)
            record["candidates"] = [asdict(c) for c in judged]
            plan = retrain_plan(judged)
            record["plan"] = [c.retention for c in plan]
            record["chosen"] = asdict(plan[0]) if plan else None
            retention = RetentionConfig(tuple(plan[0].retention)) if plan else None
            if not plan:
                self._warn_none_passed(judged, len(held_out))
        else:
            retention = RetentionConfig.from_masses(masses)
        record["retention"] = None if retention is None else retention.to_list()
        record["flops_fraction"] = None if retention is None else retention.flops_fraction(*budget)
        if retention is not None and self._flops_lengths is not None:
            record["padded_flops_fraction"] = retention.flops_fraction(*budget[:3])
        return record

    def _budget(self, fine_tuned) -> tuple[tuple, float]:
        """How this run counts every FLOPs fraction, `(seq_len, hidden, intermediate, lengths)`,
        and the cheapest target a max-metric-drop search sweeps to (above one word-vector each)."""
        adapter, lengths = fine_tuned.encoder.adapter, self._flops_lengths
        budget = (self.config.seq_len, adapter.hidden_dim, adapter.intermediate_dim, lengths)
        cheapest = RetentionConfig((1,) * fine_tuned.encoder.num_layers).flops_fraction(*budget)
        return budget, max(SWEEP_FLOOR, cheapest + 0.01)

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
        informative = [c.verdict for c in candidates if c.verdict and c.verdict["informative"]]
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

    def _verdict(self, examples, reference: np.ndarray, candidate: np.ndarray) -> Verdict:
        """`selection.judge` on `examples` with the run's metric, D, confidence and seed (and the
        examples' token counts, unless --no-length-check)."""
        lengths = self._token_counts(examples) if self.config.length_check else None
        return judge(
            examples.labels,
            reference,
            candidate,
            lambda y, p: self._metrics(y, p)[self.task.metric],
            self.config.max_metric_drop,
            self.task.is_regression,
            confidence=self.config.selection_confidence,
            seed=self.config.seed,
            lengths=lengths,
        )

    def _judge_ladder(self, fine_tuned, points, held_out, budget, floor) -> list[Candidate]:
        """The search points' configurations down `ladder(floor)`, judged, cheapest first."""
        reference = self._predictions(fine_tuned, held_out)
        judged: dict[tuple[int, ...], Candidate] = {}
        for point in points:
            for target in ladder(floor):
                retention = project_onto_budget(point.masses, target, *budget)
                key = tuple(retention.to_list())
                if key not in judged:
                    with self.strategy.scope():
                        view = fine_tuned.sharing_weights(retention)
                    verdict = self._verdict(held_out, reference, self._predictions(view, held_out))
                    judged[key] = Candidate(
                        step=point.step,
                        target=target,
                        retention=list(key),
                        flops_fraction=retention.flops_fraction(*budget),
                        masses=point.masses,
                        verdict=verdict.as_record(),
                    )
                if not judged[key].within(RETRAIN_REACH):
                    break
        return sorted(judged.values(), key=lambda c: c.flops_fraction)
