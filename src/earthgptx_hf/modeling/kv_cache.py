"""The KV cache under the name the installed transformers gives it.

transformers 5.24 renamed the KV cache from `past_key_values` to `cache`: in the `ModelOutput` classes, in
`generate()` and in every model's forward pass (`past_key_values` stays a deprecated alias until 5.40). The oldest
releases of our declared range know only `past_key_values`. The name is read from transformers' own output class, not
written down here, so this code, which checkpoints also carry as remote code, runs on every release of the range.
"""

from __future__ import annotations

from dataclasses import fields

from transformers.modeling_outputs import CausalLMOutputWithPast

# The field that holds the KV cache in transformers' outputs, and the keyword its models and `generate()` use.
CACHE_KEY = next(f.name for f in fields(CausalLMOutputWithPast) if f.name in ("cache", "past_key_values"))
# Every name a caller may use for it: the installed one first, then the older ones the installed release still takes.
_CACHE_ALIASES = (CACHE_KEY, *(name for name in ("cache", "past_key_values") if name != CACHE_KEY))


def pop_cache(kwargs: dict):
    """Removes the KV cache from `kwargs`, whichever name it came under, and returns it (None when absent).

    Raises:
        ValueError: when two names carry a cache at once (transformers itself refuses that too).
    """
    given = {name: kwargs.pop(name) for name in _CACHE_ALIASES if name in kwargs}
    present = {name: value for name, value in given.items() if value is not None}
    if len(present) > 1:
        raise ValueError(
            f"The KV cache was given twice, as {' and '.join(present)}: pass it once, as `{CACHE_KEY}` "
            "(the name of the installed transformers release)."
        )
    return next(iter(present.values()), None)


def cache_kwargs(cache) -> dict:
    """`{name: cache}` under the installed release's name, for calling a model or building an output."""
    return {CACHE_KEY: cache}


def output_cache(outputs):
    """The KV cache of a transformers model output (None when it has none)."""
    return getattr(outputs, CACHE_KEY, None)


def crop_cache(cache, length: int) -> None:
    """Keeps the first `length` positions of `cache` (in place). `Cache.crop` takes the number of tokens to remove as a
    negative number on every release of the range (5.24 refuses a positive length, and `crop(0)` empties the cache
    before 5.24), so only a real removal calls it."""
    if not 0 <= length <= cache.get_seq_length():
        raise ValueError(f"length={length} must be between 0 and the cache's {cache.get_seq_length()} positions.")
    remove = cache.get_seq_length() - length
    if remove:
        cache.crop(-remove)


__all__ = ["CACHE_KEY", "pop_cache", "cache_kwargs", "output_cache", "crop_cache"]
