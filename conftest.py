"""Doctests of the package's docstring examples: the names every example may use."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    doctest_namespace.update(np=np, keras=keras, keras_hub=keras_hub)


# The method's examples run under every backend (CI's JAX run selects `-m jax`): keras.ops only.
BACKEND_PORTABLE_DOCTESTS = ("power_bert_tf.layers", "power_bert_tf.models.encoder")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if isinstance(item, pytest.DoctestItem) and item.name.startswith(BACKEND_PORTABLE_DOCTESTS):
            item.add_marker(pytest.mark.jax)
