"""The governed customer import (D365 "data entity") and the export in the same format.

A file is CSV (a header row: ``account`` and customer field names) or JSON (a list of
objects with ``account`` and fields), keyed by account. Each row is validated on its own and
the report names every bad row. **All or nothing** by default: when any row is invalid,
nothing is changed (exit 2); ``partial=True`` (``--partial``) applies the good rows and says
so. Valid rows follow the **Data entity behavior** parameter for the fields that need
approval (``customer_approval.*``):

* allow   - every field is updated, approval or not;
* reject  - the changes of approval fields are refused, the other fields are applied;
* propose - the other fields are applied; the approval-field changes become lines of the
  customer's proposal, which is submitted (the customer change workflow starts).

A field locked by a submitted proposal is refused under reject and propose. The report has
a row per line: applied / proposed / refused / invalid / unchanged, the fields and why.

Imports do not block the office (issue 9): the whole file is parsed, validated and planned
in a read transaction, without any lock (customers read in chunks by account, one query per
chunk). Then one short write transaction re-checks the version of every customer (and open
proposal) the plan relied on: if any changed meanwhile, nothing is applied and the rows are
named (Conflict, exit 6); else the planned updates go in one executemany per column set,
audit events in one bulk insert, new proposals in bulk too. ``dry_run`` computes the same
report without writing anything.

Limits (a clear refusal, never "unexpected"): file size ``MAX_FILE_BYTES``, cell/field size
``MAX_FIELD_CHARS``, numbers ``MAX_NUMBER_CHARS`` characters, JSON nesting (rows are flat
objects; anything nested deeper than Python can parse is refused). A bare CR (not part of a
CRLF line end) is refused: CSV readers would cut the cell there.

The package, by what it holds:

* ``views``    - ImportRow, RowReport, ImportReport (and ``Planned``, one planned change);
* ``files``    - reading CSV/JSON files with their limits; ``neutralise`` / ``un_neutralise``;
* ``commands`` - ``import_rows``: plan the whole file, then the short re-checked write;
* ``bulk``     - the write phase's statements, prepared while planning;
* ``export``   - ``export_customers`` / ``iter_export`` in the import's format.
"""

from __future__ import annotations

from services.customer_import.commands import CHUNK, import_rows
from services.customer_import.export import export_customers, iter_export
from services.customer_import.files import (
    FORMULA_START,
    MAX_FIELD_CHARS,
    MAX_FILE_BYTES,
    MAX_NUMBER_CHARS,
    detect_format,
    neutralise,
    parse_csv,
    parse_json,
    read_file,
    un_neutralise,
)
from services.customer_import.views import STATUSES, ImportReport, ImportRow, RowReport

__all__ = [
    "CHUNK",
    "FORMULA_START",
    "MAX_FIELD_CHARS",
    "MAX_FILE_BYTES",
    "MAX_NUMBER_CHARS",
    "STATUSES",
    "ImportReport",
    "ImportRow",
    "RowReport",
    "detect_format",
    "export_customers",
    "import_rows",
    "iter_export",
    "neutralise",
    "parse_csv",
    "parse_json",
    "read_file",
    "un_neutralise",
]
