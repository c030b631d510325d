"""One operator per registry method, built at registration from the method's inputs, parameters and outputs.

``unrender.deform_mesh``, ``unrender.fit_points``, ... (a plugin's method
``my-method`` becomes ``unrender.my_method``). Each operator:

* reads its inputs from the scene with :mod:`.readers` (before anything changes),
* runs the method as a :class:`~.jobs.Job`: ``invoke`` (the panel button) runs
  it in a worker thread under a :class:`~.jobs.ModalJob` that shows the live
  preview and the progress (status bar, window-manager progress); ESC cancels
  and restores the scene; ``execute`` (scripts, background mode) runs it blocking;
* writes the outputs with :mod:`.writers`, all in one undo step.

Every failure is a ``self.report`` error and leaves the scene as it was; a
finished run reports its summary, then each of the method's warnings
(``Result.warnings``, e.g. an unsure pose or an open mesh) as a warning. The
classes are registered by :mod:`.registration`.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import bpy
import numpy as np

from . import convert, properties, readers, registration, writers
from .jobs import Job, JobState, ModalJob, Tick


def op_ident(method_id: str) -> str:
    """``"deform-mesh"`` -> ``"deform_mesh"`` (the operator and property names)."""
    return "".join(c if c.isalnum() else "_" for c in method_id.lower())


# ----------------------------------------------------------------------------- session
class Session:
    """One run of a method on the scene: its inputs, its changes to the scene, and how to undo them."""

    def __init__(self, options: dict, context, method, given: dict | None = None):
        """``options``: the operator's property values ``{identifier: value}`` (see :func:`operator_options`);
        ``given``: input values already read (views rendered by a modal operator), not read again."""
        self.context, self.method = context, method
        self.options = dict(options)
        op = SimpleNamespace(**self.options)  # readers and param_values read attributes
        self.objects: dict[str, bpy.types.Object] = {}  # output key -> object it writes
        self.created: list = []  # objects, meshes and images made by this session
        self.saved: dict[str, tuple] = {}  # object name -> (object, original matrix_world)
        self.changed: list[tuple] = []  # (owner, attribute, original value) of settings it set
        self.undo_steps: list = []  # callables undoing other changes (a background image added to a camera)
        self.saved_scene_camera = context.scene.camera
        self.new_camera = False
        self.main_object = None
        self.job: Job | None = None
        self.warnings: list[str] = []  # the finished result's ``Result.warnings``, reported after its summary
        self.inputs = self._read_inputs(op, context, given or {})
        params = properties.param_values(method, op)
        params["device"] = registration.device(context)
        self.photo = readers.photo(method, op)  # a keypoints input's photo, shown behind the fit
        if self.photo is not None:
            _photo_image_size(params, self.photo)
        from unrender.methods import check_inputs, resolve_params

        self.params = resolve_params(method, params)  # ValueError names a bad parameter
        self.inputs = check_inputs(method, self.inputs, self.params["device"])  # ... or a bad input
        self._check_outputs(context)
        label = self.main_object.name if self.main_object is not None else context.scene.name
        self.name_base = f"{method.label} {label}"

    def _read_inputs(self, op, context, given: dict) -> dict:
        main = readers.main_input(self.method)
        values = {}
        for inp in self.method.inputs:
            reader = readers.reader_for(inp)
            if inp.name in given:
                value = given[inp.name]
            elif reader is None:
                continue
            else:
                value = reader.read(inp, inp.name == main, op, context)
            if inp.name == main:
                self.main_object = reader.source(inp, True, op, context)
            elif self.main_object is None and isinstance(reader, readers.ViewsReader):
                self.main_object = reader.source(inp, op, context)  # the object rendered, which names the result
            if value is not None:
                values[inp.name] = value
        cams = [i.name for i in self.method.inputs if "cameras" in i.kinds and i.name in values]
        imgs = [i.name for i in self.method.inputs if "image" in i.kinds and i.name in values]
        if cams and imgs:  # a FoV camera's view only matches a picture of the render's shape
            h, w = self.render_size()
            ih, iw = values[imgs[0]].shape[:2]
            if abs(iw / ih - w / h) > 0.01 * (w / h):
                raise ValueError(f"{imgs[0]}: expected the render's aspect ({w}x{h}), found a {iw}x{ih} picture")
        return values

    def _check_outputs(self, context) -> None:
        if self.options.get("move") == "OBJECT":
            if context.scene.camera is None:
                raise ValueError("move: moving the object needs a scene camera to keep, found none")
            if self.main_object is None:
                raise ValueError("move: moving the object needs an input object, found none")

    # -- helpers for writers --------------------------------------------------
    def render_size(self) -> tuple[int, int]:
        r = self.context.scene.render
        return r.resolution_y * r.resolution_percentage // 100, r.resolution_x * r.resolution_percentage // 100

    def geometry_object(self, key: str, verts: np.ndarray, faces) -> bpy.types.Object:
        """The object of output ``key`` (made on first use) holding ``verts``/``faces``."""
        obj = self.objects.get(key)
        if obj is None:
            name = self.name_base if len(self.objects) == 0 else f"{self.name_base} {key}"
            obj = convert.new_mesh_object(self.context, name, verts, faces)
            self.objects[key] = obj
            self.created += [obj, obj.data]
        else:
            convert.set_mesh_geometry(obj.data, verts, faces)
        return obj

    def vertex_colors(self, obj, colors: np.ndarray) -> None:
        """Write ``colors (V, 3)`` (sRGB-encoded) as ``obj``'s colour attribute, with a material showing it
        (made once per object and removed on restore)."""
        convert.set_vertex_colors(obj.data, colors)
        if not any(m is not None and m.get("unrender_vertex_colors") for m in obj.data.materials):
            mat = convert.vertex_color_material(obj.name)
            mat["unrender_vertex_colors"] = True
            obj.data.materials.append(mat)
            self.created.append(mat)

    def saved_matrix(self, obj) -> np.ndarray:
        if obj.name in self.saved:
            return np.array(self.saved[obj.name][1], dtype=np.float64)
        return np.array(obj.matrix_world, dtype=np.float64)

    def set_matrix(self, obj, matrix: np.ndarray) -> None:
        if obj.name not in self.saved:
            self.saved[obj.name] = (obj, obj.matrix_world.copy())
        obj.matrix_world = type(obj.matrix_world)([list(map(float, row)) for row in matrix])

    def set_attr(self, owner, name: str, value) -> None:
        """``owner.<name> = value``, its original kept for :meth:`restore` (camera data, render settings)."""
        if not any(o == owner and n == name for o, n, _ in self.changed):
            self.changed.append((owner, name, getattr(owner, name)))
        setattr(owner, name, value)

    def on_restore(self, undo) -> None:
        """Call ``undo()`` when the run is undone (before created data is removed; newest first)."""
        self.undo_steps.append(undo)

    def scene_camera(self):
        scene = self.context.scene
        if scene.camera is None:
            data = bpy.data.cameras.new("Unrender camera")
            cam = bpy.data.objects.new("Unrender camera", data)
            (self.context.collection or scene.collection).objects.link(cam)
            scene.camera = cam
            self.created += [cam, data]
            self.new_camera = True
        return scene.camera

    def image(self, key: str, pixels) -> None:
        name = f"{self.name_base} {key}"
        existed = bpy.data.images.get(name) is not None
        img = convert.write_image(name, pixels)
        if not existed:
            self.created.append(img)

    # -- running --------------------------------------------------------------
    def make_job(self, on_step=None) -> Job:
        """The job of this run; ``on_step(step, total, loss)`` hears every step in the worker."""
        first = self.method.outputs[0]
        writer = writers.writer_for(first)
        options = dict(self.options)
        make_payload = (lambda preview: writer.payload(preview, options)) if writer else None
        self.job = Job(self.method, self.inputs, self.params, make_payload, on_step)
        return self.job

    def apply_preview(self, payload) -> None:
        first = self.method.outputs[0]
        writer = writers.writer_for(first)
        if writer is not None and payload is not None:
            writer.apply(self, first, payload)

    def write(self, result) -> list[str]:
        """Write every output that has a writer -> names of outputs without one."""
        skipped = []
        rigged = any(o.kind == "body" for o in self.method.outputs)
        for output in self.method.outputs:
            if rigged and output.kind == "mesh":
                continue  # the rigged body holds the posed mesh
            writer = writers.writer_for(output)
            if writer is None:
                skipped.append(f"{output.name} ({output.kind})")
                continue
            writer.write(self, output, result.outputs[output.name])
        for obj in self.objects.values():
            obj.select_set(True)
        return skipped

    def restore(self) -> None:
        """Undo every change: moved objects go back, changed settings too, created data is removed."""
        for obj, matrix in self.saved.values():
            try:
                obj.matrix_world = matrix
            except ReferenceError:
                pass
        for undo in reversed(self.undo_steps):
            try:
                undo()
            except (ReferenceError, RuntimeError):
                pass
        for owner, name, value in reversed(self.changed):
            try:
                setattr(owner, name, value)
            except ReferenceError:
                pass
        self.context.scene.camera = self.saved_scene_camera
        for item in reversed(self.created):
            try:
                coll = {bpy.types.Object: bpy.data.objects, bpy.types.Mesh: bpy.data.meshes,
                        bpy.types.Camera: bpy.data.cameras, bpy.types.Image: bpy.data.images,
                        bpy.types.Armature: bpy.data.armatures, bpy.types.Material: bpy.data.materials}[type(item)]
                coll.remove(item)
            except (ReferenceError, KeyError):
                pass
        self.created.clear()
        self.objects.clear()
        self.saved.clear()
        self.changed.clear()
        self.undo_steps.clear()

    def tick(self, context) -> JobState:
        """One update on the main thread: apply the newest preview -> the job's state."""
        state = self.job.poll()
        if state.payload is not None:
            self.apply_preview(state.payload)
        return state

    def cancel(self) -> None:
        """Stop the worker, wait for it, and put the scene back as it was."""
        if self.job is not None:
            self.job.cancel()
            self.job.join()
        self.restore()

    def report_finish(self, state, reports) -> set[str]:
        """:meth:`finish`, then ``reports.report`` its message and each of the result's warnings -> the return set.

        The warnings come last so the status bar, which shows the newest report, shows one."""
        status, level, message = self.finish(state)
        reports.report({level}, message)
        for note in self.warnings:
            reports.report({"WARNING"}, f"{self.method.label}: {note}")
        return status

    def finish(self, state) -> tuple[set[str], str, str]:
        """Write a finished job's result (or undo everything on error/cancel) -> (return set, report level, message).

        The result's own warnings are kept in :attr:`warnings` (see :meth:`report_finish`)."""
        label = self.method.label
        self.warnings = []
        if self.job is not None and self.job.cancelled:  # Esc: undone whatever the worker got to
            self.restore()
            return {"CANCELLED"}, "WARNING", f"{label} cancelled; the scene is unchanged"
        if state.error is not None:
            self.restore()
            return {"CANCELLED"}, "ERROR", f"{label} failed: {state.error}"
        if state.result.cancelled:
            self.restore()
            return {"CANCELLED"}, "WARNING", f"{label} cancelled; the scene is unchanged"
        try:
            skipped = self.write(state.result)
        except Exception as exc:  # a writer failing half-way must not leave half a result
            self.restore()
            return {"CANCELLED"}, "ERROR", f"{label}: could not write the result: {exc}"
        self.warnings = [str(w) for w in getattr(state.result, "warnings", ())]
        message = summary(self.method, state.result)
        if skipped:
            message += "; no converter to the scene for output " + ", ".join(skipped)
            return {"FINISHED"}, "WARNING", message
        return {"FINISHED"}, "INFO", message


def _photo_image_size(params: dict, photo) -> None:
    """A method's ``image_width`` / ``image_height`` left at 0 become the photo's size; set ones must keep its
    aspect (the photo is the camera's whole frame)."""
    if "image_width" not in params or "image_height" not in params:
        return
    h, w = photo.shape[:2]
    W, H = params["image_width"], params["image_height"]
    if not W and not H:
        params["image_width"], params["image_height"] = w, h
    elif not W or not H or abs(W / H - w / h) > 0.01 * (w / h):
        raise ValueError(f"image_width, image_height: expected the photo's aspect ({w}x{h}) or 0 for its size, "
                         f"found {W}x{H}")


def operator_options(op) -> dict:
    """An operator's property values ``{identifier: value}``."""
    return {p.identifier: getattr(op, p.identifier) for p in op.properties.bl_rna.properties
            if p.identifier != "rna_type"}


def summary(method, result) -> str:
    """One line: the method, its main metrics and the time."""
    shown = [f"{k} {v:.4g}" for k, v in list(result.metrics.items())[:4] if isinstance(v, (int, float))]
    return f"{method.label}: " + ", ".join(shown + [f"{result.seconds:.1f} s"])


class _ConsoleProgress:
    """A tqdm bar on stderr fed with ``(step, total, loss)``: progress of a blocking run in background mode."""

    def __init__(self, label: str):
        from tqdm import tqdm

        self.bar = tqdm(total=0, desc=label, unit="step", file=sys.stderr, dynamic_ncols=True, mininterval=0.5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()

    def __call__(self, step: int, total: int, loss: float) -> None:
        if self.bar.total != total:
            self.bar.total = total
        self.bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
        self.bar.update(step - self.bar.n)  # redraws at most every mininterval


class MethodRun(ModalJob):
    """A session's worker shown live by the method operator: previews and progress at every tick."""

    def __init__(self, session: Session):
        super().__init__()
        self.session = session
        self.state: JobState | None = None

    def update(self, context) -> Tick:
        state = self.state = self.session.tick(context)
        if not state.total:
            return Tick(state.done, None, None)
        return Tick(state.done, state.step / state.total,
                    f"{self.session.method.label}: step {state.step}/{state.total}, loss {state.loss:.5g}")

    def stop_work(self) -> None:
        self.session.job.cancel()

    def cancelling_status(self) -> str:
        return f"Cancelling {self.session.method.label}"

    def outcome(self, reports) -> set[str]:
        return self.session.report_finish(self.state, reports)

    def abandon(self, context) -> None:
        self.session.cancel()
        self.end_modal(context)


class RenderThenRun(ModalJob):
    """Views rendered from the scene first, one view per tick (Esc stops between views and restores the scene),
    then the method's :class:`MethodRun` on them, in the same modal operator."""

    interval = 0.01

    def __init__(self, options: dict, context, method, renders: dict):
        super().__init__()
        self.options, self.method, self.renders = options, method, renders  # {input name: ViewRender}
        self.inner: MethodRun | None = None
        self.error: str | None = None

    def _close(self) -> None:
        for run in self.renders.values():
            run.close()

    def update(self, context) -> Tick:
        if self.inner is not None:
            return self.inner.update(context)
        if self.cancel_requested:
            return Tick(True, None, None)
        pending = [(name, run) for name, run in self.renders.items() if run.done < len(run.cameras)]
        try:
            if pending:
                name, run = pending[0]
                run.step()
                return Tick(False, None, f"{self.method.label}: rendering {name}, view {run.done}/{len(run.cameras)}")
            given = {name: run.views() for name, run in self.renders.items()}
            self._close()  # the scene as it was, before the session reads it
            session = Session(self.options, context, self.method, given)
        except (ValueError, FileNotFoundError, KeyError, OSError) as exc:
            self._close()
            self.error = str(exc)
            return Tick(True, None, None)
        session.make_job().start()
        self.inner = MethodRun(session)
        return Tick(False, 0.0, f"{self.method.label}: starting")

    def stop_work(self) -> None:
        if self.inner is not None:
            self.inner.stop_work()

    def cancelling_status(self) -> str:
        return f"Cancelling {self.method.label}"

    def outcome(self, reports) -> set[str]:
        if self.inner is not None:
            return self.inner.outcome(reports)
        self._close()
        if self.error is not None:
            reports.report({"ERROR"}, self.error)
        else:
            reports.report({"WARNING"}, f"{self.method.label} cancelled; the scene is unchanged")
        return {"CANCELLED"}

    def abandon(self, context) -> None:
        self._close()
        if self.inner is not None:
            self.inner.session.cancel()
        self.end_modal(context)


# ----------------------------------------------------------------------------- the operator
class MethodOperator:
    """Behaviour shared by every registry-built operator (mixed into a ``bpy.types.Operator`` subclass)."""

    method_id = ""

    @classmethod
    def poll(cls, context):
        return registration.ready(cls, context, "run unrender methods")

    def _method(self):
        from unrender.methods import get_method

        return get_method(self.method_id)

    def _prepare(self, context) -> Session | None:
        try:
            return Session(operator_options(self), context, self._method())
        except (ValueError, FileNotFoundError, KeyError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return None

    def execute(self, context):
        session = self._prepare(context)
        if session is None:
            return {"CANCELLED"}
        if not bpy.app.background:
            return session.report_finish(session.make_job().run(), self)
        with _ConsoleProgress(session.method.label) as bar:  # headless scripts: a tqdm bar on stderr
            state = session.make_job(bar).run()
        return session.report_finish(state, self)

    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        options, method = operator_options(self), self._method()
        try:
            renders = readers.renders(method, SimpleNamespace(**options), context)
        except (ValueError, FileNotFoundError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if renders:  # views rendered from the scene: modal from the first view on
            self._run = RenderThenRun(options, context, method, renders)
            return self._run.start_modal(self, context, f"{method.label}: rendering views")
        session = self._prepare(context)
        if session is None:
            return {"CANCELLED"}
        session.make_job().start()
        self._run = MethodRun(session)
        return self._run.start_modal(self, context)

    def modal(self, context, event):
        return self._run.modal(self, context, event)

    def cancel(self, context):
        """Blender ends the modal run (window closed, file loaded, operators re-registered): undo it all."""
        self._run.abandon(context)


def _annotations(method, input_props: str) -> dict:
    """A method's bpy properties: its inputs' (``reader.<input_props>``), its parameters, its outputs' options."""
    ann = {}
    main = readers.main_input(method)
    for inp in method.inputs:
        reader = readers.reader_for(inp)
        if reader is not None:
            ann.update(getattr(reader, input_props)(inp, inp.name == main))
    ann.update(properties.param_annotations(method))
    for output in method.outputs:
        writer = writers.writer_for(output)
        if writer is not None:
            ann.update(writer.options(method))
    return ann


def make_operator(method) -> type:
    """The operator class of a registry method (:class:`~.registration.Unavailable` when an input has no reader)."""
    missing = unsupported_inputs(method)
    if missing:
        raise registration.Unavailable("no scene converter for input " + ", ".join(missing))
    ident = op_ident(method.id)
    return type(f"UNRENDER_OT_{ident}", (MethodOperator, bpy.types.Operator), {
        "bl_idname": f"unrender.{ident}",
        "bl_label": method.label,
        "bl_description": method.description,
        "bl_options": {"REGISTER", "UNDO"},
        "method_id": method.id,
        "__annotations__": _annotations(method, "operator_props"),
    })


def make_settings(method) -> type:
    """The ``PropertyGroup`` the panel keeps a method's settings in (``scene.unrender_<ident>``)."""
    return type(f"UNRENDER_PG_{op_ident(method.id)}", (bpy.types.PropertyGroup,),
                {"__annotations__": _annotations(method, "settings_props")})


def unsupported_inputs(method) -> list[str]:
    """Required inputs the add-on cannot read from a scene (no reader for their kinds)."""
    return [f"{i.name} ({'/'.join(i.kinds)})" for i in method.inputs if i.required and readers.reader_for(i) is None]
