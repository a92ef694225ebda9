"""httpboot-harness: boot real OVMF over HTTP(S) from real servers in a private network namespace.

The public entry points are :func:`httpboot_harness.runner.run_case` for one boot case, the pytest
plugin (:mod:`httpboot_harness.plugin`) and the ``httpboot-harness`` command (:mod:`.cli`).
"""

__version__ = "0.1.0"
