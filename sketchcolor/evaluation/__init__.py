"""Evaluation of trained runs: metrics (PSNR, SSIM, L1), FID, the evaluate driver and its report.

Usage: from sketchcolor.evaluation.evaluate import evaluate_runs
"""
