"""Deployment of the THz-only networks: one ONNX graph per model (graph, onnx_export) and
inference through ONNX Runtime with numpy alone (onnx_runtime: no torch import)."""
