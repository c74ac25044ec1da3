"""Loading shards into batches on the device: loader options, the DALI pipeline and loader, the torch loader.

Usage: from sketchcolor.data.loading.loader import create_loader
"""
