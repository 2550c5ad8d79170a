"""Task pipelines. Each built task exposes a :class:`~angiogen.tasks.registry.Task` named ``TASK``."""
