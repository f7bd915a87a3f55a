"""litemaas-state: run a LiteMaaS deployment from git the way Terraform runs infrastructure.

Pipeline (each a subpackage; nothing reaches backwards, checked by import-linter in pyproject.toml):
state file model (``spec``) → live observers (``live``, the only code that reads the world) → planner
(``plan``, pure) → renderers (``render``, pure) → applier (``apply``, the only code that writes).
``commands`` wires them per verb and ``cli`` maps errors to exit codes. ``sandbox`` is a local stand-in
deployment and shares no code with the product.
"""

__version__ = "0.1.0"
