"""Hybrid fusion (paper Eq. 4-7): mixes image tokens V_img with prompt tokens E_prompt.

    V_sa           = SA(V_img)            Eq. (4)
    E_ff           = FF(E_prompt)         Eq. (5)
    H_ca           = CA(V_sa, E_ff)       Eq. (6)
    [V-P]_hybrid   = SA(H_ca + E_ff)      Eq. (7)

SA and CA are pre-norm transformer blocks (attention + feed-forward, residual connections) over all the visual
tokens of one image (every view); CA takes its queries from V_sa and its keys and values from E_ff. Attention runs
through `torch.nn.functional.scaled_dot_product_attention`. The `cross_attention` block is the "cross-attention
fusion module" that the paper trains together with the LLM's q/k/v projections.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from transformers.activations import ACT2FN

from .configuration_earthgptx import EarthGPTXFusionConfig


class EarthGPTXFeedForward(nn.Module):
    def __init__(self, in_features: int, hidden_features: int, out_features: int, act: str):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = ACT2FN[act]
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(hidden_states)))


class EarthGPTXAttention(nn.Module):
    """Multi-head attention with separate query and key/value inputs (self-attention when they are the same)."""

    def __init__(self, config: EarthGPTXFusionConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
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
        attn_mask = None if key_padding_mask is None else key_padding_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0
        )
        return self.o_proj(out.transpose(1, 2).reshape(queries.shape))


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


__all__ = ["EarthGPTXHybridFusion", "EarthGPTXFusionBlock", "EarthGPTXAttention", "EarthGPTXFeedForward"]
