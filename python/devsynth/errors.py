"""The public home of devsynth's exceptions (defined in :mod:`devsynth.domain.errors`)."""

from devsynth.domain.errors import *  # noqa: F403
from devsynth.domain.errors import __all__ as __all__
