"""SQLModel tables and schemas. Importing this package registers every table on the metadata."""

from models.base import metadata  # noqa: F401  (naming convention first)
from models.core import *  # noqa: F401,F403
from models.customer import *  # noqa: F401,F403
from models.signup import *  # noqa: F401,F403
from models.cases import *  # noqa: F401,F403
from models.prospects import *  # noqa: F401,F403
from models.portal import *  # noqa: F401,F403
from models.changes import *  # noqa: F401,F403
from models.workflow import *  # noqa: F401,F403
from models.web import *  # noqa: F401,F403
