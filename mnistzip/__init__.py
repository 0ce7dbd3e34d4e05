"""mnistzip: compress handwritten digits with a learned codec.

Import the pieces you need: ``mnistzip.container`` (the .mz format, no
TensorFlow), ``mnistzip.codec`` (load a model, compress/decompress arrays),
``mnistzip.data``, ``mnistzip.metrics``, ``mnistzip.zoo``, ``mnistzip.train`` (with
``mnistzip.recipe`` for its options).
"""

import os as _os

__version__ = "0.1.0"

# TensorFlow's C++ start-up chatter is noise to a command-line user.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
