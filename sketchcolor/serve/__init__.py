"""The web app (`sketchcolor serve`): page layout, request handling, access control, batches.

Usage: from sketchcolor.serve.app import start
"""
