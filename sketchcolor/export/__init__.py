"""Export of a trained run: ONNX graphs with a forward check, and int8 quantization.

Usage: from sketchcolor.export.onnx import export_onnx
"""
