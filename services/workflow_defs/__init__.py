"""Workflow definitions: TOML files in and out, list, show, activate, deactivate.

The definition file format (UTF-8 TOML; ``regdesk workflow export TYPE`` writes one)::

    doc_type = "user_request"            # required: a registered document type
    name = "Customer user request"       # required: 1-40 characters
    description = "Review, then provision the portal user"   # optional
    condition = 'request_type == "Customer"'                  # optional: empty = every document
    priority = 100                       # optional (default 100): lower is tried first when
                                         # several active definitions of the type match

    [[steps]]                            # one table per step, in order (at least one, at most 20)
    name = "Review"                      # required, unique in the file
    kind = "approval"                    # approval (default) | automated
    assignee = "role:approver"           # approval: "role:ROLE" or "operator:USER"
    policy = "any"                       # any (default) | all | majority
    condition = "credit_limit > 10000"   # optional: the step is skipped when false
    time_limit_hours = 24                # optional: due time of each work item
    reminder_hours = 8                   # optional: e-mail the assignee every N hours while open
    escalation = ["role:admin"]          # optional (needs time_limit_hours): who gets the step,
                                         # in turn, each time the time limit passes
    final_action = "reject"              # none (default) | approve | reject: taken by the
                                         # system when the time limit passes after the last escalation

    [[steps]]
    name = "Provision portal user"
    kind = "automated"
    action = "provision"                 # automated: an action the document type offers

Conditions use the small language of ``services.conditions`` (``==``, ``!=``, ``<``..., ``in``,
``not in``, ``and``, ``or``, ``not``, literals): never evaluated as Python.

Importing checks everything (unknown keys, types, policies, roles, operators, conditions,
automated actions) and refuses a bad file with each problem's line number and reason; a
refused file changes nothing. A good file becomes a new version of (doc type, name),
inactive unless activated. One version per (doc type, name) is active; activating one
deactivates the others. Running workflows keep the version they started with.

The package: ``parsing`` (the checks above), ``views``, ``queries`` (find, list, show),
``export`` (TOML out), ``commands`` (import, activate, deactivate).
"""

from services.workflow_defs.commands import (
    ENTITY,
    activate,
    deactivate,
    import_definition,
    import_file,
    read_file,
    refusal,
)
from services.workflow_defs.export import export_definition, to_toml
from services.workflow_defs.parsing import MAX_FILE, MAX_STEPS, ParsedDefinition, ParsedStep, parse_definition
from services.workflow_defs.queries import find_definition, get_definition, list_definitions, show_definition
from services.workflow_defs.views import DefinitionDetail, DefinitionView

__all__ = [
    "ENTITY",
    "MAX_FILE",
    "MAX_STEPS",
    "DefinitionDetail",
    "DefinitionView",
    "ParsedDefinition",
    "ParsedStep",
    "activate",
    "deactivate",
    "export_definition",
    "find_definition",
    "get_definition",
    "import_definition",
    "import_file",
    "refusal",
    "list_definitions",
    "parse_definition",
    "read_file",
    "show_definition",
    "to_toml",
]
