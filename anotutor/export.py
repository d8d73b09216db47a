"""``anotutor export``: a fitted detector's inference as an ONNX file, checked in onnxruntime.

What is exported is the method's inference module (:meth:`Detector.torch_model
<anotutor.methods.base.Detector.torch_model>`): its networks and learned tensors
(PatchCore's bank, PaDiM's Gaussians) and the arithmetic from images to scores
and maps, traced by PyTorch's ONNX exporter (``torch.onnx.export(dynamo=True)``)
for one batch size, fixed at export. Its input ``images`` is [B, C, s, s],
float32 in [0, 1] at the working size ``s``, resized as
:func:`anotutor.data.images.resize` does (bilinear, antialiased when
shrinking); its outputs are ``scores`` [B] and ``maps`` [B, s, s] on the
method's own scale, so the thresholds written beside it in ``export.json``
apply unchanged: a pixel is flagged at or over ``thresholds.pixel``, an image
at or over ``thresholds.image``.

After writing the file the exporter runs it in onnxruntime on random images
and on the model's own check and records the largest differences from torch
in ``export.json``; a difference beyond :data:`TOLERANCE` of the maps' scale
is an error, not a file. A method whose inference is no single pass (the
latent search of AnoGAN, the SLIC refinement of the two-stage model) is
refused with the reason (its module's ``not_exportable``).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

__all__ = ["FORMATS", "TOLERANCE", "export_detector", "export_model", "check_onnx"]

FORMATS = ("onnx",)
TOLERANCE = 1e-4  # largest |onnxruntime - torch| accepted, relative to max(1, the largest |value|)


def _need(module: str, why: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ValueError(f"{why} needs {module}: pip install 'anotutor[export]'") from err


def export_detector(det, path, batch_size: int = 1, seed: int = 0) -> dict:
    """Write ``det``'s inference module to the ONNX file ``path`` for batches of ``batch_size`` and check
    it in onnxruntime; return the check (:func:`check_onnx`)."""
    from .checks import check_int

    det._check_fitted()
    batch_size = check_int(batch_size, "batch_size")
    module = det.torch_model()
    if module.not_exportable is not None:
        raise ValueError(f"{type(det).__name__} cannot be exported: {module.not_exportable}")
    _need("onnx", "ONNX export")
    _need("onnxscript", "ONNX export")
    s = det.params_["image_size"]
    g = torch.Generator().manual_seed(seed)
    example = torch.rand(batch_size, det.channels_, s, s, generator=g).to(det.device_)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        module(example)  # builds what a first call builds (the backbone's folded copy) outside the tracer
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=["images"],
            output_names=["scores", "maps"],
            dynamo=True,
            verbose=False,
            report=False,
        )
    return check_onnx(path, module, torch.rand(batch_size, det.channels_, s, s, generator=g))


def check_onnx(path, module, images: torch.Tensor) -> dict:
    """Run the ONNX file ``path`` in onnxruntime on ``images`` and compare with the torch ``module``:
    ``{"max_score_diff", "max_map_diff", "scale"}``; a ValueError beyond :data:`TOLERANCE` x scale."""
    ort = _need("onnxruntime", "checking an export")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    scores, maps = session.run(None, {"images": images.numpy()})
    with torch.no_grad():
        ts, tm = module(images.to(next(iter(module.state_dict().values())).device))
    ts, tm = ts.cpu(), tm.cpu()
    ds = float((torch.from_numpy(scores) - ts).abs().max())
    dm = float((torch.from_numpy(maps) - tm).abs().max())
    scale = max(1.0, float(ts.abs().max()), float(tm.abs().max()))
    check = {"max_score_diff": ds, "max_map_diff": dm, "scale": scale, "tolerance": TOLERANCE}
    if max(ds, dm) > TOLERANCE * scale:
        raise ValueError(f"the exported file does not reproduce torch: differences {ds:.3g} (scores), {dm:.3g} (maps)")
    return check


def export_model(model_dir, out, fmt: str = "onnx", batch_size: int = 1) -> dict:
    """Export the model folder ``model_dir`` of ``anotutor fit`` to the folder ``out``: ``model.onnx``
    and ``export.json`` (the input, the outputs, the thresholds and the check); return the latter."""
    from .deploy import read_model, staged

    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    det, info = read_model(model_dir)
    module = det.torch_model()
    if module.not_exportable is not None:
        raise ValueError(f"{info['title']} cannot be exported: {module.not_exportable}")
    s, c = det.params_["image_size"], det.channels_
    with staged(Path(out)) as stage:
        check = export_detector(det, stage / "model.onnx", batch_size)
        described = {
            "method": info["method"],
            "title": info["title"],
            "format": fmt,
            "file": "model.onnx",
            "input": {
                "name": "images",
                "shape": [batch_size, c, s, s],
                "dtype": "float32",
                "range": [0.0, 1.0],
                "resize": "bilinear to the working size, antialiased when shrinking (anotutor.data.images.resize)",
                "channels": "grey (ITU-R 601 luma)" if c == 1 else "RGB",
            },
            "outputs": {"scores": [batch_size], "maps": [batch_size, s, s]},
            "thresholds": info["thresholds"],
            "map_scale": info["map_scale"],
            "check": check,
            "model": str(Path(model_dir).resolve()),
        }
        (stage / "export.json").write_text(json.dumps(described, indent=1))
    return described
