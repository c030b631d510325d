"""A tiny third-party method packaged as a real wheel, for the plugin tests.

``build_plugin_wheel(folder)`` writes ``unrender_sphere_plugin-0.1-py3-none-any.whl``:
a module with a ``fit-sphere`` method (fits a sphere's centre and radius to a
point cloud by gradient descent) and an ``unrender.methods`` entry point. pip
installs it like any wheel; no build backend is involved.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

MODULE = '''
import torch

from unrender.geometry import icosphere
from unrender.methods import Input, Method, Output, Param, Tracker
from unrender.structures import Meshes


class FitSphere(Method):
    id = "fit-sphere"
    label = "Fit sphere"
    description = "Fit a sphere (centre and radius) to a point cloud or mesh by gradient descent."
    inputs = (Input("target", ("points", "mesh"), "points the sphere should pass through"),)
    params = (
        Param("steps", 200, "optimisation steps", minimum=1, maximum=100000),
        Param("lr", 0.05, "Adam learning rate", minimum=1e-6, maximum=10.0),
    )
    outputs = (Output("sphere", "mesh", "the fitted sphere as a level-3 icosphere"),)

    def run(self, inputs, params, progress):
        t = inputs["target"]
        pts = t.verts_packed() if isinstance(t, Meshes) else t.points_packed()
        center = torch.zeros(3, device=pts.device, requires_grad=True)
        log_r = torch.zeros((), device=pts.device, requires_grad=True)
        opt = torch.optim.Adam([center, log_r], lr=params["lr"])
        ico = icosphere(3, device=pts.device).verts_packed()
        faces = icosphere(3).faces_packed().to(pts.device)
        tracker = Tracker(progress, params["steps"], snapshots=5)
        mesh = lambda: Meshes([(ico * log_r.exp() + center).detach().cpu()], [faces.cpu()])
        for step in range(params["steps"]):
            opt.zero_grad()
            loss = (((pts - center).norm(dim=1) - log_r.exp()) ** 2).mean()
            loss.backward()
            opt.step()
            if not tracker.update(step, loss.item(), mesh):
                break
        return tracker.result({"sphere": mesh()}, {"radius": float(log_r.detach().exp()), "rms": float(loss.detach().sqrt())})

    def example_inputs(self, seed=0):
        g = torch.Generator().manual_seed(seed)
        d = torch.randn(500, 3, generator=g)
        return {"target": (d / d.norm(dim=1, keepdim=True)) * 2.0 + torch.tensor([1.0, 0.0, 0.0])}
'''

NAME, VERSION = "unrender_sphere_plugin", "0.1"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_plugin_wheel(folder: Path, *, broken: bool = False) -> Path:
    """Write the plugin wheel into ``folder``; ``broken=True`` points the entry point at a missing name."""
    dist = f"{NAME}-{VERSION}.dist-info"
    target = "NoSuchMethod" if broken else "FitSphere"
    files = {
        f"{NAME}.py": MODULE.encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {NAME.replace('_', '-')}\nVersion: {VERSION}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: unrender-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist}/entry_points.txt": f"[unrender.methods]\nfit-sphere = {NAME}:{target}\n".encode(),
    }
    record = [_record_line(n, d) for n, d in files.items()] + [f"{dist}/RECORD,,"]
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = Path(folder) / f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for n, d in files.items():
            z.writestr(n, d)
    return path
