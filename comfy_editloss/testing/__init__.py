"""Helpers for users' own tests of their ComfyUI graphs::

    from comfy_editloss.testing import run_workflow

    def test_my_graph_scores_the_good_edit_lower():
        result = run_workflow("workflows/my_graph.json", inject={"8:0": "tests/data/generated.png"})
        assert result.output("15") < result.output("16")

:mod:`comfy_editloss.testing.synthetic` holds the generated edit scenes and textures that the
project's own tests, benchmarks and sample data are made of.
"""

from ..graph.execute import NodeExecutionError, RunResult, Runner
from ..graph.runtime import Environment, run_workflow, validate_workflow
from ..graph.validate import PromptValidationError, ValidationIssue

__all__ = [
    "Environment",
    "NodeExecutionError",
    "PromptValidationError",
    "RunResult",
    "Runner",
    "ValidationIssue",
    "run_workflow",
    "validate_workflow",
]
