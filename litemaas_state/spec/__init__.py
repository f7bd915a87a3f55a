"""The state file: its pydantic model (``model``) and the YAML loader with file:line diagnostics (``load``).

Pure: no network, no clock. The loader reads only the text it is handed.
"""
