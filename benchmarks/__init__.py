"""Benchmarks: each script answers one speed or memory question and saves JSON under results/.

A package only so tests import the arithmetic they check (`from benchmarks import scaling`);
run each script as `python benchmarks/NAME.py --help`.
"""
