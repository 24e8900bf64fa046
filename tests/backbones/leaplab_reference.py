"""Independent functional re-creations of the official LeapLabTHU FLatten / Agent-attention forwards.

Written from LeapLabTHU/FLatten-Transformer (``models/flatten_{swin,pvt,pvt_v2}.py``) and
LeapLabTHU/Agent-Attention (``agent_transformer/models/agent_{deit,swin,pvt}.py``): plain tensor code that
reads weights by their *official* names. `OfficialWeights` creates each weight (seeded) the first time the
reference asks for it, so one reference run also yields a complete state dict in the official layout.
Valid at the reference input size only, like the official code (window = stage grid for L/A blocks).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


class OfficialWeights:
    """Official-layout state dict, filled on first access with seeded random tensors of the requested shape."""

    def __init__(self, seed: int = 0) -> None:
        self.gen = torch.Generator().manual_seed(seed)
        self.state: dict[str, torch.Tensor] = {}

    def __call__(self, name: str, *shape: int, kind: str = "w") -> torch.Tensor:
        if name not in self.state:
            r = torch.randn(shape, generator=self.gen)
            self.state[name] = {"w": 0.1 * r, "b": 0.05 * r, "one": 1 + 0.1 * r, "big": 0.5 * r}[kind]
        return self.state[name]

    def linear(self, name: str, x: torch.Tensor, out: int, bias: bool = True) -> torch.Tensor:
        w = self(f"{name}.weight", out, x.shape[-1])
        return F.linear(x, w, self(f"{name}.bias", out, kind="b") if bias else None)

    def ln(self, name: str, x: torch.Tensor, eps: float) -> torch.Tensor:
        c = x.shape[-1]
        return F.layer_norm(x, (c,), self(f"{name}.weight", c, kind="one"), self(f"{name}.bias", c, kind="b"), eps)

    def conv(self, name: str, x: torch.Tensor, out: int, k: int, stride: int = 1, pad: int = 0, groups: int = 1):
        w = self(f"{name}.weight", out, x.shape[1] // groups, k, k)
        return F.conv2d(x, w, self(f"{name}.bias", out, kind="b"), stride=stride, padding=pad, groups=groups)


def _heads(x, h):
    b, n, c = x.shape
    return x.reshape(b, n, h, c // h).permute(0, 2, 1, 3)


def _kv_source(P, pre, x, H, W, sr):
    """q, k, v tensors (B, N, C) for a fused-qkv (``sr is None``) or a q/kv (+ spatial reduction) module."""
    b, n, c = x.shape
    if sr is None:
        q, k, v = P.linear(f"{pre}.qkv", x, 3 * c).reshape(b, n, 3, c).permute(2, 0, 1, 3)
        return q, k, v
    q = P.linear(f"{pre}.q", x, c)
    src = x
    if sr > 1:
        g = P.conv(f"{pre}.sr", x.permute(0, 2, 1).reshape(b, c, H, W), c, sr, stride=sr)
        src = P.ln(f"{pre}.norm", g.reshape(b, c, -1).permute(0, 2, 1), 1e-5)
    k, v = P.linear(f"{pre}.kv", src, 2 * c).reshape(b, -1, 2, c).permute(2, 0, 1, 3)
    return q, k, v


def focused_linear(P, pre, x, H, W, heads, sr=None, focusing=3, kernel=5):
    """FocusedLinearAttention.forward (Swin: fused qkv; PVT: q/kv with optional sr)."""
    b, n, c = x.shape
    q, k, v = _kv_source(P, pre, x, H, W, sr)
    m = k.shape[1]
    k = k + P(f"{pre}.positional_encoding", 1, m, c, kind="w")
    scale = F.softplus(P(f"{pre}.scale", 1, 1, c, kind="big"))
    q, k = (F.relu(q) + 1e-6) / scale, (F.relu(k) + 1e-6) / scale
    qn, kn = q.norm(dim=-1, keepdim=True), k.norm(dim=-1, keepdim=True)
    q, k = q**focusing, k**focusing
    q, k = q / q.norm(dim=-1, keepdim=True) * qn, k / k.norm(dim=-1, keepdim=True) * kn
    q, k, v = _heads(q, heads), _heads(k, heads), _heads(v, heads)
    z = 1 / (q @ k.mean(dim=-2, keepdim=True).transpose(-2, -1) + 1e-6)
    kv = (k.transpose(-2, -1) * m**-0.5) @ (v * m**-0.5)
    out = (q @ kv * z).transpose(1, 2).reshape(b, n, c)
    if m != n:
        v = F.interpolate(v.transpose(-2, -1).reshape(b * heads, -1, m), size=n, mode="linear")
        v = v.reshape(b, heads, -1, n).transpose(-2, -1)
    d = c // heads
    v = v.reshape(b * heads, H, W, d).permute(0, 3, 1, 2)
    out = out + P.conv(f"{pre}.dwc", v, d, kernel, pad=kernel // 2, groups=d).reshape(b, c, n).permute(0, 2, 1)
    return P.linear(f"{pre}.proj", out, c)


def agent(P, pre, x, H, W, heads, agent_num, sr=None, cls=False):
    """AgentAttention.forward of agent_swin (fused), agent_deit (fused, class token) or agent_pvt (q/kv, sr)."""
    b, n, c = x.shape
    d = c // heads
    scale = d**-0.5
    q, k, v = _kv_source(P, pre, x, H, W, sr)
    s = int(agent_num**0.5)
    qg = q[:, 1:] if cls else q
    agents = F.adaptive_avg_pool2d(qg.reshape(b, H, W, c).permute(0, 3, 1, 2), (s, s)).reshape(b, c, -1).permute(0, 2, 1)
    r = sr or 1
    hk, wk = H // r, W // r
    q, k, v, agents = _heads(q, heads), _heads(k, heads), _heads(v, heads), _heads(agents, heads)
    an = F.interpolate(P(f"{pre}.an_bias", heads, agent_num, 7, 7, kind="big"), size=(hk, wk), mode="bilinear")
    pb = an.reshape(1, heads, agent_num, -1) + (
        P(f"{pre}.ah_bias", 1, heads, agent_num, hk, 1, kind="big") + P(f"{pre}.aw_bias", 1, heads, agent_num, 1, wk, kind="big")
    ).reshape(1, heads, agent_num, -1)
    if cls:
        pb = torch.cat([P(f"{pre}.ac_bias", 1, heads, agent_num, 1, kind="big").expand(1, -1, -1, -1), pb], dim=-1)
    agent_v = torch.softmax(agents * scale @ k.transpose(-2, -1) + pb, dim=-1) @ v
    na = F.interpolate(P(f"{pre}.na_bias", heads, agent_num, 7, 7, kind="big"), size=(H, W), mode="bilinear")
    ab = na.reshape(1, heads, agent_num, -1).permute(0, 1, 3, 2) + (
        P(f"{pre}.ha_bias", 1, heads, H, 1, agent_num, kind="big") + P(f"{pre}.wa_bias", 1, heads, 1, W, agent_num, kind="big")
    ).reshape(1, heads, -1, agent_num)
    if cls:
        ab = torch.cat([P(f"{pre}.ca_bias", 1, heads, 1, agent_num, kind="big"), ab], dim=-2)
    out = (torch.softmax(q * scale @ agents.transpose(-2, -1) + ab, dim=-1) @ agent_v).transpose(1, 2).reshape(b, n, c)
    vg = v[:, :, 1:] if cls else v
    vg = vg.transpose(1, 2).reshape(b, hk, wk, c).permute(0, 3, 1, 2)
    if r > 1:
        vg = F.interpolate(vg, size=(H, W), mode="bilinear")
    local = P.conv(f"{pre}.dwc", vg, c, 3, pad=1, groups=c).permute(0, 2, 3, 1).reshape(b, -1, c)
    out = torch.cat([out[:, :1], out[:, 1:] + local], dim=1) if cls else out + local
    return P.linear(f"{pre}.proj", out, c)


def softmax_attention(P, pre, x, heads):
    b, n, c = x.shape
    q, k, v = P.linear(f"{pre}.qkv", x, 3 * c).reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    attn = torch.softmax(q @ k.transpose(-2, -1) * (c // heads) ** -0.5, dim=-1)
    return P.linear(f"{pre}.proj", (attn @ v).transpose(1, 2).reshape(b, n, c), c)


def window_attention(P, pre, x, H, W, heads, window, shift):
    """Swin W-MSA / SW-MSA as the official block (roll, partition, bias table, -100 mask)."""
    b, n, c = x.shape
    if min(H, W) <= window:
        window, shift = min(H, W), 0
    P.state[f"{pre}.relative_position_index"] = torch.zeros(window**2, window**2, dtype=torch.long)  # a buffer in the file
    table = P(f"{pre}.relative_position_bias_table", (2 * window - 1) ** 2, heads, kind="big")
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    bias = table[rel[..., 0] * (2 * window - 1) + rel[..., 1]].permute(2, 0, 1)
    g = x.view(b, H, W, c)
    if shift:
        g = torch.roll(g, (-shift, -shift), (1, 2))
    win = g.view(b, H // window, window, W // window, window, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)
    mask = None
    if shift:
        img = torch.zeros(H, W)
        cnt = 0
        for hs in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            for ws in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
                img[hs, ws] = cnt
                cnt += 1
        mw = img.view(H // window, window, W // window, window).permute(0, 2, 1, 3).reshape(-1, window * window)
        mask = (mw[:, None, :] - mw[:, :, None]).ne(0).float() * -100.0
        P.state[f"{pre[:-5]}.attn_mask"] = mask  # the block's buffer in the official file
    bw, m, _ = win.shape
    q, k, v = P.linear(f"{pre}.qkv", win, 3 * c).reshape(bw, m, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    attn = q * (c // heads) ** -0.5 @ k.transpose(-2, -1) + bias[None]
    if mask is not None:
        attn = (attn.view(b, -1, heads, m, m) + mask[None, :, None]).view(-1, heads, m, m)
    out = P.linear(f"{pre}.proj", (torch.softmax(attn, -1) @ v).transpose(1, 2).reshape(bw, m, c), c)
    g = out.view(b, H // window, W // window, window, window, c).permute(0, 1, 3, 2, 4, 5).reshape(b, H, W, c)
    if shift:
        g = torch.roll(g, (shift, shift), (1, 2))
    return g.reshape(b, n, c)


def _mlp(P, pre, x, ratio, H=None, W=None):
    c = x.shape[-1]
    h = P.linear(f"{pre}.fc1", x, int(c * ratio))
    if H is not None:  # PVTv2: 3x3 depthwise conv between fc1 and the activation
        b, n, hid = h.shape
        h = P.conv(f"{pre}.dwconv.dwconv", h.transpose(1, 2).reshape(b, hid, H, W), hid, 3, pad=1, groups=hid)
        h = h.flatten(2).transpose(1, 2)
    return P.linear(f"{pre}.fc2", F.gelu(h), c)


def swin(P, x, embed_dim, depths, heads, block_types, window, agent_nums=(9, 16, 49, 49)):
    """Official FLatten/Agent Swin; ``block_types[i][j]`` in L (focused linear), A (agent), S/B (window)."""
    t = P.conv("patch_embed.proj", x, embed_dim, 4, stride=4)
    b, c, H, W = t.shape
    t = P.ln("patch_embed.norm", t.flatten(2).transpose(1, 2), 1e-5)
    for i, depth in enumerate(depths):
        for j in range(depth):
            pre = f"layers.{i}.blocks.{j}"
            y = P.ln(f"{pre}.norm1", t, 1e-5)
            kind = block_types[i][j]
            if kind == "L":
                y = focused_linear(P, f"{pre}.attn", y, H, W, heads[i])
            elif kind == "A":
                y = agent(P, f"{pre}.attn", y, H, W, heads[i], agent_nums[i])
            else:
                y = window_attention(P, f"{pre}.attn", y, H, W, heads[i], window, 0 if j % 2 == 0 else window // 2)
            t = t + y
            t = t + _mlp(P, f"{pre}.mlp", P.ln(f"{pre}.norm2", t, 1e-5), 4)
        if i < len(depths) - 1:
            g = t.view(b, H, W, c)
            g = torch.cat([g[:, 0::2, 0::2], g[:, 1::2, 0::2], g[:, 0::2, 1::2], g[:, 1::2, 1::2]], -1)
            H, W = H // 2, W // 2
            g = P.ln(f"layers.{i}.downsample.norm", g.view(b, -1, 4 * c), 1e-5)
            t = P.linear(f"layers.{i}.downsample.reduction", g, 2 * c, bias=False)
            c *= 2
    t = P.ln("norm", t, 1e-5).mean(1)
    return P.linear("head", t, 1000)


def pvt(P, x, dims, depths, heads, mlp_ratios, kind, v2, agent_nums=(9, 16, 49, 49), final_norm_unused=False):
    """Official FLatten-PVT / Agent-PVT (v1) and FLatten-PVTv2; ``kind`` "L" or "A" for every block, no sr."""
    b = x.shape[0]
    t = x
    for i, depth in enumerate(depths):
        if v2:
            k, s = (7, 4) if i == 0 else (3, 2)
            t = P.conv(f"patch_embed{i + 1}.proj", t, dims[i], k, stride=s, pad=k // 2)
        else:
            p = 4 if i == 0 else 2
            t = P.conv(f"patch_embed{i + 1}.proj", t, dims[i], p, stride=p)
        H, W = t.shape[-2:]
        t = P.ln(f"patch_embed{i + 1}.norm", t.flatten(2).transpose(1, 2), 1e-5)
        if not v2:
            t = t + P(f"pos_embed{i + 1}", 1, H * W, dims[i], kind="w")
        for j in range(depth):
            pre = f"block{i + 1}.{j}"
            y = P.ln(f"{pre}.norm1", t, 1e-6)
            if kind == "L":
                y = focused_linear(P, f"{pre}.attn", y, H, W, heads[i], sr=1)
            else:
                y = agent(P, f"{pre}.attn", y, H, W, heads[i], agent_nums[i], sr=1)
            t = t + y
            y = P.ln(f"{pre}.norm2", t, 1e-6)
            t = t + (_mlp(P, f"{pre}.mlp", y, mlp_ratios[i], H, W) if v2 else _mlp(P, f"{pre}.mlp", y, mlp_ratios[i]))
        if v2:
            t = P.ln(f"norm{i + 1}", t, 1e-6)
        if i < len(depths) - 1:
            t = t.reshape(b, H, W, -1).permute(0, 3, 1, 2)
    if final_norm_unused:  # FLatten-PVT v1 defines a final norm (in its checkpoint) but never applies it
        P("norm.weight", dims[-1], kind="one"), P("norm.bias", dims[-1], kind="b")
    return P.linear("head", t.mean(1), 1000)


def deit(P, x, dim, depth, heads, agent_blocks, agent_num):
    """Official Agent-DeiT: agent attention (class token aware) in the first `agent_blocks` blocks, softmax after."""
    t = P.conv("patch_embed.proj", x, dim, 16, stride=16)
    b, _, H, W = t.shape
    t = torch.cat([P("cls_token", 1, 1, dim, kind="w").expand(b, -1, -1), t.flatten(2).transpose(1, 2)], 1)
    t = t + P("pos_embed", 1, 1 + H * W, dim, kind="w")
    for i in range(depth):
        pre = f"blocks.{i}"
        y = P.ln(f"{pre}.norm1", t, 1e-6)
        if i < agent_blocks:
            y = agent(P, f"{pre}.attn", y, H, W, heads, agent_num, cls=True)
        else:
            y = softmax_attention(P, f"{pre}.attn", y, heads)
        t = t + y
        t = t + _mlp(P, f"{pre}.mlp", P.ln(f"{pre}.norm2", t, 1e-6), 4)
    return P.linear("head", P.ln("norm", t, 1e-6)[:, 0], 1000)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b|: the parity measure for random-weight activations of any scale."""
    return ((a - b).abs().max() / b.abs().max()).item()


__all__ = ["OfficialWeights", "swin", "pvt", "deit", "relative_error"]
