"""A concurrent load test of an export's text signatures: N client threads, M requests each.

Every request picks a signature (uniformly among the chosen ones) and a size (number of
examples, uniformly in a range) and sends that many dev-set examples. The choices come
from one seeded generator per client, drawn before the clients start, so a seed gives
the same requests however the threads interleave. Errors are caught, counted and
reported with their message; they never stop the run.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from benchmarks import load, system
from benchmarks.serving.devset import dev_examples
from benchmarks.serving.errors import ServingError
from benchmarks.serving.exports import inspect_export
from benchmarks.serving.model import ServedModel
from benchmarks.serving.report import environment_lines, table


@dataclass(frozen=True)
class LoadTestConfig:
    """What the load test sends.

    Attributes:
        clients: concurrent client threads.
        requests_per_client: requests each client sends, one after another.
        sizes: `(smallest, largest)` number of examples per request, inclusive.
        signatures: the text signatures to call; empty for all of them.
        data_dir: the export's task's GLUE directory, whose dev set gives the texts;
            None for `$GLUE_DIR/<Task>`.
        seed: seeds every choice.
    """

    clients: int = 8
    requests_per_client: int = 100
    sizes: tuple[int, int] = (1, 8)
    signatures: tuple[str, ...] = ()
    data_dir: str | None = None
    seed: int = 0

    def __post_init__(self):
        if self.clients < 1 or self.requests_per_client < 1:
            raise ServingError(
                f"clients and requests per client must be >= 1, got {self.clients} and "
                f"{self.requests_per_client}"
            )
        if len(self.sizes) != 2 or not 1 <= self.sizes[0] <= self.sizes[1]:
            raise ServingError(
                f"sizes must be (smallest, largest) with 1 <= smallest <= largest, "
                f"got {tuple(self.sizes)}"
            )


@dataclass(frozen=True)
class Request:
    """One planned request: which client sends it, the signature and the dev rows."""

    client: int
    index: int
    signature: str
    rows: tuple[int, ...]


@dataclass(frozen=True)
class Record:
    """What happened to one request. `error` is "Type: first line of the message" or None."""

    signature: str
    size: int
    latency_ms: float
    error: str | None


# Called in the client thread with (request, examples sent, outputs) after a success.
ResponseHook = Callable[[Request, list, dict], None]


def plan_requests(
    config: LoadTestConfig, signatures: Sequence[str], num_examples: int
) -> list[list[Request]]:
    """Each client's requests, drawn from a generator seeded by `(seed, client)`."""
    low, high = config.sizes
    plans = []
    for client in range(config.clients):
        rng = np.random.default_rng([config.seed, client])
        plans.append(
            [
                Request(
                    client,
                    index,
                    signatures[int(rng.integers(len(signatures)))],
                    tuple(
                        int(r)
                        for r in rng.integers(0, num_examples, int(rng.integers(low, high + 1)))
                    ),
                )
                for index in range(config.requests_per_client)
            ]
        )
    return plans


# TensorFlow's runtime errors open with lines that do not say what went wrong.
_BOILERPLATE = ("Graph execution error", "Detected at node", "<stack traces unavailable>")


def _describe(error: BaseException) -> str:
    """The error's type and the first informative line of its message (200 characters at most)."""
    lines = [line.strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line and not line.startswith(_BOILERPLATE)]
    return f"{type(error).__name__}: {lines[0][:200] if lines else ''}"


RSS_EVERY = 1000  # requests between two readings of the server's memory


class RssSampler:
    """The process's resident memory after every `every` requests, counted over all clients.

    Example:
    >>> readings = iter(range(100, 200))
    >>> sampler = RssSampler(2, read=lambda: next(readings))
    >>> for _ in range(5):
    ...     sampler.tick()
    >>> sampler.samples
    [{'requests': 2, 'rss_mb': 100}, {'requests': 4, 'rss_mb': 101}]
    """

    def __init__(self, every: int | None = None, read=None):
        self.every = every or RSS_EVERY
        self.read = read or system.rss_mb
        self.samples: list[dict] = []
        self._count = 0
        self._lock = threading.Lock()

    def tick(self) -> None:
        """One more request answered."""
        with self._lock:
            self._count += 1
            if self._count % self.every == 0:
                self.samples.append({"requests": self._count, "rss_mb": self.read()})


def _client(
    model: ServedModel,
    examples: list,
    requests: list[Request],
    start: threading.Barrier,
    records: list[Record],
    on_response: ResponseHook | None,
    sampler: RssSampler | None = None,
) -> None:
    start.wait()
    for request in requests:
        texts = [examples[row] for row in request.rows]
        began = time.perf_counter()
        error = None
        try:
            outputs = model(request.signature, texts)
        except Exception as caught:  # noqa: BLE001 - a failed request is a result, not a crash
            error = _describe(caught)
        latency_ms = 1000.0 * (time.perf_counter() - began)
        if error is None and on_response is not None:
            try:
                on_response(request, texts, outputs)
            except Exception as caught:  # noqa: BLE001
                error = f"on_response: {_describe(caught)}"
        records.append(Record(request.signature, len(texts), latency_ms, error))
        if sampler is not None:
            sampler.tick()


def _run_clients(
    model: ServedModel,
    examples: list,
    plans: list[list[Request]],
    on_response: ResponseHook | None,
    sampler: RssSampler | None = None,
) -> tuple[list[Record], float]:
    """Run every client's plan in its own thread; `(records, wall seconds)`."""
    start = threading.Barrier(len(plans) + 1)  # all clients begin together
    per_client: list[list[Record]] = [[] for _ in plans]
    threads = [
        threading.Thread(
            target=_client,
            args=(model, examples, plan, start, records, on_response, sampler),
            name=f"client-{i}",
            daemon=True,
        )
        for i, (plan, records) in enumerate(zip(plans, per_client))
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall_s = time.perf_counter() - began
    return [record for records in per_client for record in records], wall_s


def summarize(records: Sequence[Record], wall_s: float) -> dict:
    """Requests, sentences, throughput, p50 / p99 latency (successful requests) and errors."""
    ok = np.array([r.latency_ms for r in records if r.error is None], dtype=np.float64)
    errors = Counter(r.error for r in records if r.error is not None)
    sentences = sum(r.size for r in records)

    def percentile(q):
        return round(float(np.percentile(ok, q)), 3) if ok.size else None

    return {
        "requests": len(records),
        "sentences": sentences,
        "errors": sum(errors.values()),
        "error_messages": dict(errors.most_common()),
        "requests_per_s": round(len(records) / wall_s, 2) if wall_s > 0 else None,
        "sentences_per_s": round(sentences / wall_s, 2) if wall_s > 0 else None,
        "p50_ms": percentile(50),
        "p99_ms": percentile(99),
        "mean_ms": round(float(ok.mean()), 3) if ok.size else None,
        "max_ms": round(float(ok.max()), 3) if ok.size else None,
    }


def run_load_test(
    savedmodel,
    config: LoadTestConfig = LoadTestConfig(),
    *,
    on_response: ResponseHook | None = None,
    keep_records: bool = False,
) -> dict:
    """Load an export, warm it up, and send every client's requests concurrently.

    Args:
        savedmodel: a version directory, or a base directory (its highest version).
        config: clients, requests, sizes, signatures, GLUE directory and seed.
        on_response: called in the client thread after each successful request (for
            checks); an exception it raises counts as that request's error.
        keep_records: add every request's `Record` under "records".

    Returns:
        A JSON-ready dict: "per_signature" and "overall" (see `summarize`), "wall_s",
        "rss_mb" (before loading, at the start after one warm-up call per signature, after
        every `RSS_EVERY` requests, at the end, and the growth fraction end / start - 1), "config", "machine" (with the
        load average at start and end), "threads" and "versions".

    Raises:
        ServingError: an unusable export, signature name, dev file or setting.
    """
    info = inspect_export(savedmodel, config.signatures)
    dev_path, examples = dev_examples(info.task, len(info.inputs), config.data_dir)
    rss_before = system.rss_mb()
    model = ServedModel(info)
    model.warm_up(examples[0])
    rss_start, load_start = system.rss_mb(), load.load_average()

    plans = plan_requests(config, info.signatures, len(examples))
    sampler = RssSampler()
    records, wall_s = _run_clients(model, examples, plans, on_response, sampler)
    rss_end, load_end = system.rss_mb(), load.load_average()

    result = {
        "savedmodel": str(info.version_dir),
        "task": info.task,
        "config": {
            "clients": config.clients,
            "requests_per_client": config.requests_per_client,
            "sizes": list(config.sizes),
            "seed": config.seed,
            "signatures": list(info.signatures),
            "dev_file": dev_path,
            "dev_examples": len(examples),
        },
        "per_signature": {
            name: summarize([r for r in records if r.signature == name], wall_s)
            for name in info.signatures
        },
        "overall": summarize(records, wall_s),
        "wall_s": wall_s,
        "rss_mb": {
            "before_load": rss_before,
            "start": rss_start,
            "end": rss_end,
            "growth_fraction": (rss_end / rss_start - 1.0) if rss_start and rss_end else None,
            # Counted from the start (after the warm-up), every RSS_EVERY requests.
            "every": sampler.samples,
        },
        **system.host_facts(load_start, load_end),
    }
    if keep_records:
        result["records"] = [asdict(record) for record in records]
    return result


def format_load_test(result: dict) -> str:
    """A short text report of `run_load_test`'s result."""
    config, rss = result["config"], result["rss_mb"]
    rows = [
        [
            name,
            s["requests"],
            s["sentences"],
            s["requests_per_s"],
            s["sentences_per_s"],
            s["p50_ms"],
            s["p99_ms"],
            s["errors"],
        ]
        for name, s in [*result["per_signature"].items(), ("all", result["overall"])]
    ]
    lines = [
        f"Load test of {result['savedmodel']} (task {result['task'] or '?'}): "
        f"{config['clients']} clients x {config['requests_per_client']} requests, "
        f"{config['sizes'][0]}-{config['sizes'][1]} sentences each, seed {config['seed']}",
        f"texts: {config['dev_file']} ({config['dev_examples']} examples)",
        *table(
            ["signature", "requests", "sentences", "req/s", "sent/s", "p50 ms", "p99 ms", "errors"],
            rows,
        ),
        f"wall {result['wall_s']:.2f} s; RSS MiB: before load {_mb(rss['before_load'])}, "
        f"start {_mb(rss['start'])}, end {_mb(rss['end'])} (growth {_percent(rss['growth_fraction'])})",
        *(
            [
                f"RSS MiB after every {RSS_EVERY} requests: "
                + ", ".join(
                    f"{sample['requests']}: {_mb(sample['rss_mb'])}" for sample in rss["every"]
                )
            ]
            if rss.get("every")
            else []
        ),
        *environment_lines(result),
    ]
    for name, summary in result["per_signature"].items():
        for message, count in summary["error_messages"].items():
            lines.append(f"error ({name}, {count}x): {message}")
    return "\n".join(lines)


def _mb(value) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _percent(fraction) -> str:
    return "n/a" if fraction is None else f"{100.0 * fraction:+.1f}%"
