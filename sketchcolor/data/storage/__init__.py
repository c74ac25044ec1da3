"""Object storage: s3:// shard folders and the node cache they are staged into.

Usage: from sketchcolor.data.storage.s3 import local_folder
"""
