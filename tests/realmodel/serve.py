"""llama-cpp-python's server with weight repacking off (`use_extra_bufts`, which its command
line does not expose). On a virtualized Sapphire-Rapids-class CPU that advertises AMX, llama.cpp
repacks the weights into its AMX buffer and the first generation dies of a general protection
fault in `libggml-cpu.so` (ggml-org/llama.cpp#20824; this machine on 2026-12-02). Without the
extra buffer types the weights stay in the plain CPU buffer and no AMX kernel runs, on any CPU.

    python -m tests.realmodel.serve --model M.gguf ...   (the arguments of llama_cpp.server)
"""

from __future__ import annotations

from typing import Any

import llama_cpp.llama_cpp as native

_defaults = native.llama_model_default_params


def _plain_buffers() -> Any:
    params = _defaults()
    params.use_extra_bufts = False
    return params


native.llama_model_default_params = _plain_buffers

if __name__ == "__main__":
    from llama_cpp.server.__main__ import main

    main()
