"""SQLModel tables and schemas. Importing this package registers every table on the metadata."""

from models.base import metadata  # noqa: F401  (naming convention first)
from models.core import *  # noqa: F401,F403
from models.customer import *  # noqa: F401,F403
from models.signup import *  # noqa: F401,F403
