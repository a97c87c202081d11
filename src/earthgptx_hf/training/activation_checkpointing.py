"""Activation (gradient) checkpointing under the name the installed transformers gives it.

transformers 5.24 renamed `gradient_checkpointing_enable` / `is_gradient_checkpointing` to
`activation_checkpointing_enable` / `is_activation_checkpointing` (the old names warn until v6); the oldest releases of
the declared range have only the old ones. These helpers use whichever the model offers, so no deprecated name is
called on the newest release.
"""

from __future__ import annotations


def enable_activation_checkpointing(model, use_reentrant: bool = False):
    """Turns activation checkpointing on (non-reentrant by default, which PEFT and frozen towers need)."""
    kwargs = {"use_reentrant": use_reentrant}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    return model


def is_activation_checkpointing(model) -> bool:
    """Whether any module of `model` checkpoints its activations."""
    return any(getattr(module, "gradient_checkpointing", False) is True for module in model.modules())


__all__ = ["enable_activation_checkpointing", "is_activation_checkpointing"]
