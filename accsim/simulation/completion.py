"""Shell completion of names (click's ``shell_complete``): presets and models by name, and file
paths, since ``--arch`` and ``--model`` also take a YAML preset or a config.json.

Enable it once per shell (bash; zsh and fish as in click's documentation)::

    eval "$(_ACCSIM_COMPLETE=bash_source accsim)"
"""
from __future__ import annotations

from typing import Any, Callable


def _names_then_files(names: Callable[[], list[str]]) -> Callable:
    def complete(ctx: Any, param: Any, incomplete: str) -> list:
        from click.shell_completion import CompletionItem
        found = [CompletionItem(n) for n in names() if n.startswith(incomplete)]
        return found + [CompletionItem(incomplete, type="file")]
    return complete


def _preset_names() -> list[str]:
    from accsim.core.presets import preset_names
    return preset_names()


def _model_names() -> list[str]:
    from accsim.workloads import model_names
    return model_names()


complete_presets = _names_then_files(_preset_names)
complete_models = _names_then_files(_model_names)
# scenario fields complete by their unit ("preset": --arch; "model": --model, --draft-model)
BY_UNIT = {"preset": complete_presets, "model": complete_models}
