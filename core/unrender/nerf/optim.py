"""Adam that updates only the rows of a table that got a gradient (a lazy Adam for grid and hash tables).

A NeRF step reads a few thousand rows of tables of millions: dense Adam would rewrite every row and
decay every moment each step. :class:`RowAdam` takes ``(rows, channels)`` parameters and updates only the
rows read: with a sparse gradient (``F.embedding(sparse=True)``) those of its indices, summed in a kept
buffer (``torch.optim.SparseAdam`` coalesces instead: a sort of every read, slow on the CPU), and with a
dense gradient the rows where it is nonzero (a scan of the table).
"""

from __future__ import annotations

import torch

__all__ = ["RowAdam"]


class RowAdam(torch.optim.Optimizer):
    """Adam on the touched rows of 2D parameters ``(rows, channels)``; untouched rows and their moments stay.

    On a touched row the update is Adam's with the bias corrections of the optimiser's own step count
    (``SparseAdam``'s rule): with every row touched every step it is ``torch.optim.Adam``.
    """

    def __init__(self, params, lr: float = 1e-2, betas=(0.9, 0.99), eps: float = 1e-15):
        if not lr > 0:
            raise ValueError(f"lr: expected a positive learning rate, found {lr}")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps})
        for g in self.param_groups:
            for p in g["params"]:
                if p.dim() != 2:
                    raise ValueError(f"params: expected (rows, channels) tables, found shape {tuple(p.shape)}")

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else closure()
        for g in self.param_groups:
            b1, b2 = g["betas"]
            for p in g["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["step"], st["m"], st["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                st["step"] += 1
                if p.grad.is_sparse:
                    if "sum" not in st:  # kept zero between steps; a bool per row marks the rows read
                        st["sum"] = torch.zeros_like(p)
                        st["read"] = torch.zeros(p.shape[0], dtype=torch.bool, device=p.device)
                    idx = p.grad._indices()[0]
                    st["sum"].index_add_(0, idx, p.grad._values())
                    st["read"][idx] = True
                    rows = torch.nonzero(st["read"]).squeeze(1)
                    st["read"][rows] = False
                    grad = st["sum"].index_select(0, rows)
                    st["sum"].index_fill_(0, rows, 0.0)
                else:
                    rows = torch.nonzero(p.grad.ne(0).any(1)).squeeze(1)
                    grad = p.grad.index_select(0, rows)
                m = st["m"].index_select(0, rows).lerp_(grad, 1 - b1)
                v = st["v"].index_select(0, rows).mul_(b2).addcmul_(grad, grad, value=1 - b2)
                st["m"].index_copy_(0, rows, m)
                st["v"].index_copy_(0, rows, v)
                k = st["step"]
                size = g["lr"] / (1 - b1**k)
                denom = (v / (1 - b2**k)).sqrt_().add_(g["eps"])
                p.index_add_(0, rows, m.div_(denom), alpha=-size)
        return loss
