"""NeuS (Wang et al. 2021): volume rendering of a signed distance field, trained on posed images.

Why NeuS and not VolSDF: NeuS's discrete opacity (the drop of the logistic CDF
``Phi_s(sdf)`` across each section of a ray) puts the weight peak on the zero
crossing without bias to first order, its one learnable sharpness ``s`` is the
whole density model, and its up-sampling (importance samples from the opacity
at fixed, doubling ``s``) is a few cheap passes; VolSDF's error-bounded sampler
needs an inner iterative search per ray, costly on the CPU.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from .._validate import check_positive_int, check_tensor, parse_real
from ..fields import mlp
from ..io import PosedViews
from ..render.textures import TexturesVertex
from ..render.volume import emission_absorption_weights, sample_pdf
from ..structures import Meshes
from .fit_points import sdf_mesh
from ..render.volume import pixel_rays, ray_sphere_bounds
from .sdf import SDFField, sdf_and_gradient

__all__ = ["neus_alpha", "neus_upsample", "NeuSModel", "surface_model", "train_surface"]


def neus_alpha(sdf: torch.Tensor, cos: torch.Tensor, dists: torch.Tensor, inv_s) -> torch.Tensor:
    """NeuS's discrete opacity of ray sections from the SDF at their mid-points.

    ``sdf``, ``cos`` (ray direction . SDF gradient), ``dists`` (section lengths): ``(..., P)``; ``inv_s``:
    the sharpness ``s`` (a float or a tensor broadcasting). The SDF at the section's ends is estimated as
    ``sdf -+ 0.5 * dists * min(cos, 0)`` (only surfaces the ray enters absorb), and
    ``alpha = clamp((Phi_s(prev) - Phi_s(next)) / Phi_s(prev), 0, 1)`` with ``Phi_s = sigmoid(s x)``.
    """
    iter_cos = -F.relu(-cos)
    prev = sdf - iter_cos * dists * 0.5
    nxt = sdf + iter_cos * dists * 0.5
    prev_cdf, next_cdf = torch.sigmoid(prev * inv_s), torch.sigmoid(nxt * inv_s)
    return ((prev_cdf - next_cdf + 1e-5) / (prev_cdf + 1e-5)).clamp(0.0, 1.0)


def neus_upsample(z: torch.Tensor, sdf: torch.Tensor, n_importance: int, inv_s: float) -> torch.Tensor:
    """NeuS's up-sampling: ``n_importance`` new depths ``(R, n_importance)`` per ray, drawn (deterministic
    quantiles) from the opacity that the SDF ``(R, P)`` at sorted depths ``z (R, P)`` gives at sharpness
    ``inv_s``, the slope of each section estimated from its ends (clamped to at most the previous one's, so a
    grazing ray still samples near its closest approach). No gradients."""
    with torch.no_grad():
        prev_sdf, next_sdf = sdf[:, :-1], sdf[:, 1:]
        dists = z[:, 1:] - z[:, :-1]
        mid_sdf = 0.5 * (prev_sdf + next_sdf)
        cos = (next_sdf - prev_sdf) / (dists + 1e-5)
        prev_cos = torch.cat([torch.zeros_like(cos[:, :1]), cos[:, :-1]], -1)
        cos = torch.minimum(cos, prev_cos).clamp(-1e3, 0.0)
        alpha = neus_alpha(mid_sdf, cos, dists, inv_s)
        weights = emission_absorption_weights(alpha)
        return sample_pdf(z, weights, n_importance, det=True)


class NeuSModel(nn.Module):
    """An :class:`SDFField`, a colour network and NeuS's learnable sharpness ``s = exp(10 * variance)``.

    The colour network (IDR's) reads the point, the SDF gradient (normal), the view direction and the SDF
    feature vector: ``(3 + 3 + 3 + feature_dim) -> 3`` through ``color_layers`` hidden ReLU layers of
    ``color_hidden``, then a sigmoid. The scene lies inside the sphere of ``radius`` (rays are sampled
    between where they enter and leave it); ``background`` is the colour seen where rays pass.
    ``normal_delta``: SDF gradients by central differences of that step (:func:`sdf_and_gradient`) instead of
    autograd.
    """

    def __init__(self, sdf: SDFField | None = None, *, color_hidden: int = 64, color_layers: int = 2,
                 init_variance: float = 0.3, radius: float = 1.0, background=(0.0, 0.0, 0.0),
                 normal_delta: float | None = None):
        super().__init__()
        self.sdf = SDFField() if sdf is None else sdf
        if not isinstance(self.sdf, SDFField):
            raise ValueError(f"sdf: expected an unrender.surfaces.SDFField, found {type(self.sdf).__name__}")
        self.color = mlp(9 + self.sdf.feature_dim, 3, color_hidden, color_layers)
        self.variance = nn.Parameter(torch.tensor(parse_real("init_variance", init_variance)))
        self.radius = parse_real("radius", radius)
        self.normal_delta = None if normal_delta is None else parse_real("normal_delta", normal_delta)
        self.register_buffer("background", torch.as_tensor(background, dtype=torch.float32).reshape(3))

    def inv_s(self) -> torch.Tensor:
        """NeuS's sharpness ``s``: the logistic density's inverse standard deviation."""
        return torch.exp(10.0 * self.variance).clamp(1e-6, 1e6)

    def colors(self, points, normals, view_dirs, features) -> torch.Tensor:
        """``(..., 3)`` points, SDF gradients, view directions and ``(..., feature_dim)`` -> ``(..., 3)`` in [0, 1]."""
        return torch.sigmoid(self.color(torch.cat([points, normals, view_dirs, features], -1)))

    def render_rays(self, origins: torch.Tensor, directions: torch.Tensor, *, n_samples: int = 32,
                    n_importance: int = 32, up_steps: int = 2, stratified: bool = False) -> dict:
        """Render rays ``origins, directions (R, 3)`` (unit directions).

        ``n_samples`` uniform depths between the bounding sphere's entry and exit (jittered when
        ``stratified``), then ``n_importance`` more in ``up_steps`` rounds of :func:`neus_upsample` at
        ``s = 64 * 2**i``; the SDF and colour are evaluated at the section mid-points.
        Returns ``color (R, 3)`` (over the background), ``opacity (R,)``, ``depth (R,)`` (expected distance
        along the ray, normalised by the opacity), ``weights``, ``mids (R, P - 1)`` and ``gradients
        (R, P - 1, 3)`` (for the eikonal term).
        """
        check_tensor("origins", origins, [None, 3], floating=True)
        check_tensor("directions", directions, list(origins.shape), floating=True)
        check_positive_int("n_samples", n_samples, minimum=2)
        R = origins.shape[0]
        near, far, _ = ray_sphere_bounds(origins, directions, self.radius)
        u = torch.linspace(0.0, 1.0, n_samples, dtype=origins.dtype, device=origins.device).expand(R, n_samples)
        if stratified:
            u = (u + (torch.rand_like(u) - 0.5) / (n_samples - 1)).clamp(0, 1).sort(-1).values
        z = near[:, None] + (far - near)[:, None] * u
        if n_importance > 0 and up_steps > 0:
            with torch.no_grad():
                sdf = self.sdf.sdf(origins[:, None] + z[..., None] * directions[:, None])
                per = max(n_importance // up_steps, 1)
                for i in range(up_steps):
                    new_z = neus_upsample(z, sdf, per, 64.0 * 2**i)
                    z, order = torch.cat([z, new_z], -1).sort(-1)
                    if i + 1 < up_steps:
                        new_sdf = self.sdf.sdf(origins[:, None] + new_z[..., None] * directions[:, None])
                        sdf = torch.gather(torch.cat([sdf, new_sdf], -1), -1, order)
        dists = z[:, 1:] - z[:, :-1]
        mids = z[:, :-1] + 0.5 * dists
        points = origins[:, None] + mids[..., None] * directions[:, None]
        out, grad = sdf_and_gradient(self.sdf, points, create_graph=self.training, delta=self.normal_delta)
        view = directions[:, None].expand_as(points)
        alpha = neus_alpha(out[..., 0], (view * grad).sum(-1), dists, self.inv_s())
        weights = emission_absorption_weights(alpha)
        rgb = self.colors(points, grad, view, out[..., 1:])
        opacity = weights.sum(-1)
        color = (weights[..., None] * rgb).sum(-2) + (1.0 - opacity[:, None]) * self.background.to(rgb.dtype)
        depth = (weights * mids).sum(-1) / opacity.clamp_min(1e-6)
        return {"color": color, "opacity": opacity, "depth": depth, "weights": weights, "mids": mids, "gradients": grad}

    def render_views(self, cameras, image_size, *, chunk: int = 4096, **options) -> dict:
        """Images of every camera: ``color (B, H, W, 3)``, ``opacity (B, H, W)``, ``depth (B, H, W)``."""
        origins, directions = pixel_rays(cameras, image_size)
        B, H, W, _ = origins.shape
        o, d = origins.reshape(-1, 3), directions.reshape(-1, 3)
        parts = [self.render_rays(o[s:s + chunk], d[s:s + chunk], **options) for s in range(0, o.shape[0], chunk)]
        return {
            "color": torch.cat([p["color"].detach() for p in parts]).reshape(B, H, W, 3),
            "opacity": torch.cat([p["opacity"].detach() for p in parts]).reshape(B, H, W),
            "depth": torch.cat([p["depth"].detach() for p in parts]).reshape(B, H, W),
        }

    def mesh(self, resolution: int = 256) -> Meshes:
        """The SDF's zero level set (marching cubes over the bounding sphere's box) with vertex colours from the
        colour network, viewed head-on (the view direction is minus the normal)."""
        r = self.radius
        mesh = sdf_mesh(self.sdf, resolution, bounds=((-r, -r, -r), (r, r, r)))
        verts = mesh.verts_packed()
        colors = []
        for v in verts.split(65536):
            out, grad = sdf_and_gradient(self.sdf, v, create_graph=False, delta=self.normal_delta)
            with torch.no_grad():
                colors.append(self.colors(v, grad, -F.normalize(grad, dim=-1), out[..., 1:]))
        feats = torch.cat(colors) if colors else verts.new_zeros(0, 3)
        return Meshes([verts], [mesh.faces_packed()], textures=TexturesVertex([feats]))


def surface_model(*, encoding: str | None = "harmonic", hidden: int = 64, layers: int = 2, feature_dim: int = 16,
                  normal_delta: float | None = None, **options) -> NeuSModel:
    """The :class:`NeuSModel` that :func:`train_surface` trains by default: an :class:`SDFField` of ``encoding``,
    ``hidden``, ``layers`` and ``feature_dim`` (``options`` not taken by :class:`NeuSModel` go to the field's
    encoding), normals by autograd or by central differences of ``normal_delta``."""
    model_keys = ("color_hidden", "color_layers", "init_variance", "radius", "background")
    model_options = {k: options.pop(k) for k in model_keys if k in options}
    field = SDFField(hidden=hidden, layers=layers, feature_dim=feature_dim, encoding=encoding, **options)
    return NeuSModel(field, normal_delta=normal_delta, **model_options)


def train_surface(views: PosedViews, *, seconds: float | None = None, steps: int = 2000, progress=None,
                  model: NeuSModel | None = None, batch_rays: int = 768, n_samples: int = 16, n_importance: int = 16,
                  lr: float = 1e-2, eikonal_weight: float = 0.1, mask_weight: float = 1.0, warmup: int = 50, seed: int = 0):
    """Train a :class:`NeuSModel` on posed images (NeuS's loss: L1 colour + ``eikonal_weight`` * eikonal +
    ``mask_weight`` * BCE of the opacity against the mask when ``views`` has masks).

    Rays of ``batch_rays`` random pixels of all views a step, Adam with a linear warm-up over ``warmup`` steps (at most a tenth of ``steps``)
    and a cosine decay of ``lr`` to a tenth over ``steps`` or ``seconds``, whichever ends first; stops after ``steps`` or ``seconds`` of training, or when
    ``progress(step, total, loss) -> bool`` returns ``False``. With masks the target colour outside the mask
    is the model's background. The scene must lie inside the model's bounding sphere (``radius``).
    Returns ``(model, history)``: history lists ``step``, ``seconds``, ``loss``, ``psnr`` (of the batch),
    ``inv_s`` and ``lr`` per step.

    The defaults, measured by ``scripts/quality_surface.py`` (``example_views(40, 8, 128)``, 1 thread on a heavily
    shared 2-core CPU, about 0.7-1.4 s a step where a quiet core takes 0.15-0.2; marching cubes at 192), mesh
    F1@0.01 / F1@0.02 after 300 s of training (~200-260 steps): ``mask_weight`` 0.1 -> 1.0: 0.45 / 0.75 ->
    0.48 / 0.80 (F1@0.05 0.93 -> 1.00); ``lr`` 5e-3 -> 1e-2 (24 + 24 samples, 512 rays): 0.61 / 0.94;
    16 + 16 samples on 768 rays (the same samples a step): 0.51 / 0.86 against 0.50 / 0.83 for 24 + 24 on 512
    at the same 300 s. The harmonic MLP with autograd normals is the fastest field a step on the CPU:
    with 512 rays of 24 + 24 samples, 0.14 s against 0.71 (hash grid), 0.56 (harmonic, finite-difference
    normals) and 1.0 (dense multi-grid, finite differences; ``grid_sample``'s backward is slow on the CPU).
    These defaults, 600 s on 1 thread (2689 steps, the machine less busy), marching cubes at 256: F1@0.01 0.853,
    F1@0.02 0.996, F1@0.05 1.000 (the §6 bar: 0.8 / 0.95). With ``seconds``, pass a large ``steps``: it also
    caps the run.
    """
    if not isinstance(views, PosedViews):
        raise ValueError(f"views: expected unrender.io.PosedViews, found {type(views).__name__}")
    check_positive_int("steps", steps)
    check_positive_int("batch_rays", batch_rays)
    check_positive_int("warmup", warmup)
    if seconds is not None:
        seconds = parse_real("seconds", seconds)
    lr = parse_real("lr", lr)
    eikonal_weight, mask_weight = parse_real("eikonal_weight", eikonal_weight), parse_real("mask_weight", mask_weight)
    torch.manual_seed(seed)
    device = views.images.device
    model = (surface_model() if model is None else model).to(device)
    model.train()
    origins, directions = pixel_rays(views.cameras, views.image_size)
    origins, directions = origins.reshape(-1, 3), directions.reshape(-1, 3)
    target = views.images.reshape(-1, 3)
    masks = None if views.masks is None else views.masks.reshape(-1)
    if masks is not None:
        target = target * masks[:, None] + model.background.to(target.dtype) * (1 - masks[:, None])
    _, _, inside = ray_sphere_bounds(origins, directions, model.radius)
    pool = inside.nonzero()[:, 0] if masks is None else (inside | (masks > 0)).nonzero()[:, 0]
    if pool.numel() == 0:
        raise ValueError(f"views: expected cameras that see the bounding sphere of radius {model.radius}, found none")
    opt = torch.optim.Adam(model.parameters(), lr=lr, eps=1e-15)
    base_lrs = [group["lr"] for group in opt.param_groups]
    history = {"step": [], "seconds": [], "loss": [], "psnr": [], "inv_s": [], "lr": []}
    start = time.perf_counter()
    for step in range(steps):
        # the schedule runs over steps or seconds, whichever ends first: a time budget gets the whole decay
        done = step / steps if seconds is None else max(step / steps, (time.perf_counter() - start) / seconds)
        factor = min((step + 1) / min(warmup, max(steps // 10, 1)), 1.0) * (0.1 + 0.45 * (1 + math.cos(math.pi * min(done, 1.0))))
        for group, base in zip(opt.param_groups, base_lrs):
            group["lr"] = base * factor
        idx = pool[torch.randint(0, pool.numel(), (batch_rays,), device=device)]
        out = model.render_rays(origins[idx], directions[idx], n_samples=n_samples, n_importance=n_importance,
                                stratified=True)
        color_loss = (out["color"] - target[idx]).abs().mean()
        eikonal = ((out["gradients"].norm(dim=-1) - 1) ** 2).mean()
        loss = color_loss + eikonal_weight * eikonal
        if masks is not None and mask_weight > 0:
            loss = loss + mask_weight * F.binary_cross_entropy(out["opacity"].clamp(1e-3, 1 - 1e-3), masks[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            mse = float(((out["color"] - target[idx]) ** 2).mean())
        elapsed = time.perf_counter() - start
        for key, val in (("step", step + 1), ("seconds", elapsed), ("loss", float(loss.detach())),
                         ("psnr", 10 * math.log10(1 / max(mse, 1e-10))), ("inv_s", float(model.inv_s().detach())),
                         ("lr", lr * factor)):
            history[key].append(val)
        if progress is not None and progress(step + 1, steps, float(loss.detach())) is False:
            break
        if seconds is not None and elapsed >= seconds:
            break
    model.eval()
    return model, history
