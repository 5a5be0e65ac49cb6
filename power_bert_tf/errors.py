"""`PowerBertError`: the base of every error the package raises on purpose.

Each says in one line what is wrong and names what is at fault (the command-line tools print
it and exit with status 2); each subclass also derives from the fitting built-in exception.

Example:
>>> from power_bert_tf.retention import RetentionConfig, RetentionConfigError
>>> try:
...     RetentionConfig.parse("3,5")
... except PowerBertError as error:
...     print(type(error).__name__, isinstance(error, ValueError))
RetentionConfigError True
"""

from __future__ import annotations


class PowerBertError(Exception):
    """A clear, one-line refusal: bad input, an unusable file or setting, a missing resource."""
