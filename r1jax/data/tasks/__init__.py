"""Synthetic verifiable tasks, by name: `tasks.get('countdown', ...)`."""
# Importing the modules registers the tasks.
from r1jax.data.tasks import arithmetic
from r1jax.data.tasks import code_fn
from r1jax.data.tasks import countdown
from r1jax.data.tasks import general
from r1jax.data.tasks import multilingual
from r1jax.data.tasks.base import get
from r1jax.data.tasks.base import is_task
from r1jax.data.tasks.base import names
from r1jax.data.tasks.base import register
from r1jax.data.tasks.base import Task
