"""What every stage relies on and none is about: atomic writes (``atomic``), resumable training
(``checkpoint``), what a run came from (``provenance``) and the files the package ships
(``package_files``). Nothing here imports the rest of autolora but its error types.
"""
