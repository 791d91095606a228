"""LoRA on the encoder's attention: peft for training, small forward hooks for serving.

Training injects peft LoRA layers (query/value of every BERT layer) into
`encoder[0].auto_model`. The artifact stores only those tensors (adapter.safetensors,
~74k parameters = 0.3 MB at rank 8 for MiniLM-L6), under module names relative to the
auto model, without peft's adapter name.

Serving must not build a peft model per tenant (1,000 tenants share one encoder), so
`LoraHooks` adds forward hooks to the shared encoder's target Linear layers once; a
request activates one tenant's `LoraAdapter` under a lock and the hooks add
`scale * B(A(x))` to each layer's output: the same computation as peft's unmerged LoRA in
eval mode, without touching the shared weights.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

# LoRA on query and value is the original paper's recommendation (Hu et al. 2021, section 7.1)
# and the peft default for BERT.
TARGET_MODULES = ("query", "value")
ADAPTER_FILE = "adapter.safetensors"


def inject_lora(encoder: Any, *, rank: int, alpha: float, dropout: float) -> list[torch.nn.Parameter]:
    """Freeze the encoder and inject trainable peft LoRA layers into its attention; return them."""
    from peft import LoraConfig, inject_adapter_in_model

    auto_model = encoder[0].auto_model
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(TARGET_MODULES))
    inject_adapter_in_model(config, auto_model)
    parameters = [parameter for name, parameter in auto_model.named_parameters() if "lora_" in name]
    for parameter in parameters:
        parameter.requires_grad_(True)
    return parameters


def lora_state_dict(encoder: Any) -> dict[str, torch.Tensor]:
    """The injected LoRA tensors as {"<module>.lora_A.weight": tensor} (peft's adapter name removed)."""
    return {
        name.replace(".default.", "."): parameter.detach().float().cpu().contiguous()
        for name, parameter in encoder[0].auto_model.named_parameters()
        if "lora_" in name
    }


@dataclass
class LoraAdapter:
    """One tenant's LoRA tensors: {module name: (A [r, in], B [out, r])} and the scale alpha/r."""

    layers: dict[str, tuple[torch.Tensor, torch.Tensor]]
    scale: float

    @classmethod
    def from_state_dict(cls, tensors: dict[str, torch.Tensor], *, rank: int, alpha: float) -> LoraAdapter:
        layers = {}
        for name in tensors:
            if name.endswith(".lora_A.weight"):
                module = name.removesuffix(".lora_A.weight")
                layers[module] = (tensors[name], tensors[f"{module}.lora_B.weight"])
        return cls(layers=layers, scale=alpha / rank)

    @classmethod
    def load(cls, path: Path, *, rank: int, alpha: float, device: str = "cpu") -> LoraAdapter:
        """Read adapter.safetensors (verified against the manifest by the caller)."""
        return cls.from_state_dict(load_file(str(path), device=device), rank=rank, alpha=alpha)

    def to(self, device: str, dtype: torch.dtype) -> LoraAdapter:
        layers = {name: (a.to(device, dtype), b.to(device, dtype)) for name, (a, b) in self.layers.items()}
        return LoraAdapter(layers=layers, scale=self.scale)

    @property
    def nbytes(self) -> int:
        return sum(a.numel() * a.element_size() + b.numel() * b.element_size() for a, b in self.layers.values())


def save_adapter(encoder: Any, path: Path) -> None:
    """Write the encoder's injected LoRA tensors to `path` (safetensors)."""
    save_file(lora_state_dict(encoder), str(path))


class LoraHooks:
    """Forward hooks on a shared encoder that apply whichever adapter is active (none by default).

    Example:
        >>> hooks = LoraHooks.attach(encoder)  # doctest: +SKIP
        >>> with hooks.active(adapter):  # doctest: +SKIP
        ...     vectors = encoder.encode(["hello"])
    """

    def __init__(self, encoder: Any) -> None:
        self._adapter: LoraAdapter | None = None
        self._lock = threading.RLock()
        self._handles = []
        for name, module in encoder[0].auto_model.named_modules():
            if name.rsplit(".", 1)[-1] in TARGET_MODULES and isinstance(module, torch.nn.Linear):
                self._handles.append(module.register_forward_hook(self._hook_for(name)))

    @classmethod
    def attach(cls, encoder: Any) -> LoraHooks:
        """The encoder's hooks, installed on first use (one set per encoder object)."""
        hooks = getattr(encoder, "_tessera_lora_hooks", None)
        if hooks is None:
            hooks = cls(encoder)
            encoder._tessera_lora_hooks = hooks
        return hooks

    def _hook_for(self, name: str):
        def hook(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
            adapter = self._adapter
            if adapter is None or name not in adapter.layers:
                return output
            lora_a, lora_b = adapter.layers[name]
            hidden = inputs[0].to(lora_a.dtype)
            return output + (hidden @ lora_a.T @ lora_b.T * adapter.scale).to(output.dtype)

        return hook

    @contextlib.contextmanager
    def active(self, adapter: LoraAdapter | None) -> Iterator[None]:
        """Apply `adapter` to every forward inside the block; other threads wait (the encoder is shared)."""
        with self._lock:
            previous, self._adapter = self._adapter, adapter
            try:
                yield
            finally:
                self._adapter = previous
