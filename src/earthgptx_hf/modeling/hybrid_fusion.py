"""Hybrid fusion (paper Eq. 4-7): mixes image tokens V_img with prompt tokens E_prompt.

    V_sa           = SA(V_img)            Eq. (4)
    E_ff           = FF(E_prompt)         Eq. (5)
    H_ca           = CA(V_sa, E_ff)       Eq. (6)
    [V-P]_hybrid   = SA(H_ca + E_ff)      Eq. (7)

SA and CA are pre-norm transformer blocks (attention + feed-forward, residual connections) over all the visual
tokens of one image (every view); CA takes its queries from V_sa and its keys and values from E_ff. Attention runs
through transformers' attention interface (`ALL_ATTENTION_FUNCTIONS`, chosen by `config._attn_implementation`:
"sdpa", "eager" or a registered kernel), as in transformers' own models. The `cross_attention` block is the "cross-attention
fusion module" that the paper trains together with the LLM's q/k/v projections.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F
from transformers.activations import ACT2FN
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from .configuration_earthgptx import EarthGPTXFusionConfig


class EarthGPTXFeedForward(nn.Module):
    def __init__(self, in_features: int, hidden_features: int, out_features: int, act: str):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = ACT2FN[act]
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(hidden_states)))


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain softmax attention in the attention-interface signature (each transformers model keeps its own).

    `query` `(B, heads, L, d)`, `key`/`value` `(B, heads, S, d)`, `attention_mask` additive `(B, 1, 1, S)`.
    Returns `(B, L, heads, d)` and the attention weights."""
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = F.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = F.dropout(weights, p=dropout, training=module.training)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


class EarthGPTXAttention(nn.Module):
    """Multi-head attention with separate query and key/value inputs (self-attention when they are the same)."""

    is_causal = False  # read by the attention interface

    def __init__(self, config: EarthGPTXFusionConfig):
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.dropout = config.attention_dropout
        self.q_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.k_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.v_proj = nn.Linear(config.hidden_size, config.hidden_size)
        self.o_proj = nn.Linear(config.hidden_size, config.hidden_size)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, queries: torch.Tensor, keys_values: torch.Tensor, key_padding_mask: torch.Tensor | None = None):
        """
        Args:
            queries: `(B, L, D)`; keys_values: `(B, S, D)`.
            key_padding_mask: `(B, S)` bool, True where a key may be attended to.
        """
        q, k, v = self._split(self.q_proj(queries)), self._split(self.k_proj(keys_values)), self._split(
            self.v_proj(keys_values)
        )
        attention_mask = None
        if key_padding_mask is not None:  # additive form: what every attention implementation takes
            blocked = torch.finfo(q.dtype).min
            attention_mask = torch.zeros(key_padding_mask.shape, dtype=q.dtype, device=q.device)
            attention_mask = attention_mask.masked_fill(~key_padding_mask.to(torch.bool), blocked)[:, None, None, :]
        attention_interface: Callable = eager_attention_forward
        if self.config._attn_implementation is not None:  # None: the block is used on its own (eager)
            attention_interface = ALL_ATTENTION_FUNCTIONS.get_interface(
                self.config._attn_implementation, eager_attention_forward
            )
        out, _ = attention_interface(
            self, q, k, v, attention_mask, scaling=self.scaling, dropout=self.dropout if self.training else 0.0
        )
        return self.o_proj(out.reshape(queries.shape))


class EarthGPTXFusionBlock(nn.Module):
    """Pre-norm transformer block: x = x + Attn(LN(x), LN(kv)); x = x + FFN(LN(x))."""

    def __init__(self, config: EarthGPTXFusionConfig, cross: bool):
        super().__init__()
        self.cross = cross
        self.norm_q = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.norm_kv = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if cross else None
        self.attention = EarthGPTXAttention(config)
        self.norm_ffn = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.ffn = EarthGPTXFeedForward(
            config.hidden_size, config.intermediate_size, config.hidden_size, config.hidden_act
        )

    def forward(self, hidden_states, keys_values=None, key_padding_mask=None):
        queries = self.norm_q(hidden_states)
        keys_values = self.norm_kv(keys_values) if self.cross else queries
        hidden_states = hidden_states + self.attention(queries, keys_values, key_padding_mask)
        return hidden_states + self.ffn(self.norm_ffn(hidden_states))


class EarthGPTXHybridFusion(nn.Module):
    def __init__(self, config: EarthGPTXFusionConfig, prompt_hidden_size: int):
        super().__init__()
        self.image_self_attention = EarthGPTXFusionBlock(config, cross=False)
        self.prompt_feed_forward = EarthGPTXFeedForward(
            prompt_hidden_size, config.intermediate_size, config.hidden_size, config.hidden_act
        )
        self.cross_attention = EarthGPTXFusionBlock(config, cross=True)
        self.hybrid_self_attention = EarthGPTXFusionBlock(config, cross=False)

    def forward(
        self, image_tokens: torch.Tensor, prompt_tokens: torch.Tensor, token_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """
        Args:
            image_tokens: `V_img`, `(B, L, D_v)`: all visual tokens of each image.
            prompt_tokens: `E_prompt`, `(B, L, C_s)`, aligned one-to-one with `image_tokens`.
            token_mask: `(B, L)` bool, False for tokens of padding views (excluded as attention keys).

        Returns:
            `[V-P]_hybrid`, `(B, L, D_v)`.
        """
        v_sa = self.image_self_attention(image_tokens, key_padding_mask=token_mask)  # Eq. (4)
        e_ff = self.prompt_feed_forward(prompt_tokens)  # Eq. (5)
        h_ca = self.cross_attention(v_sa, keys_values=e_ff, key_padding_mask=token_mask)  # Eq. (6)
        return self.hybrid_self_attention(h_ca + e_ff, key_padding_mask=token_mask)  # Eq. (7)


__all__ = ["EarthGPTXHybridFusion", "EarthGPTXFusionBlock", "EarthGPTXAttention", "EarthGPTXFeedForward",
           "eager_attention_forward"]
